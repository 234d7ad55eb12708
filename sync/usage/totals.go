package usage

import (
	"slices"
	"strings"
)

// Totals returns what r counts for: its Rollup when the outbox folded
// other records into it, else the one request it records.
func (r *Record) Totals() Totals {
	if r.Rollup != nil {
		return *r.Rollup
	}
	var t Totals
	t.add(r)
	return t
}

// SortRows orders a report: largest cost first, then by group name.
func SortRows(rows []Row) {
	slices.SortFunc(rows, func(a, b Row) int {
		if a.CostUSD != b.CostUSD {
			if a.CostUSD > b.CostUSD {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Group, b.Group)
	})
}
