// Package side is the fleet side of edgeway (edgeway fleet): it consumes
// every device's usage records from the EDGEWAY_USAGE stream into daily
// rollups, keeps each device's last status, and writes pushed config,
// all in JetStream and nothing else, so any number of replicas can run
// against one NATS cluster and a crashed one loses nothing.
//
// Exactly once. The rollups live in the KV bucket edgeway_rollups, one
// entry per (day, device): the day's sums per team, key, provider and
// model, and the set of the device's record sequence numbers already
// counted in it (kept as ranges: normally one, [first, last]). A replica
// reads the entry, adds the records whose sequence is not in the set,
// and writes it back with compare-and-set on the revision it read; on a
// conflict it reads again and retries. The message is acked only after
// the write. A redelivery, a duplicate or a replica racing another finds
// its sequence already in the set and is acked without counting.
//
// Why a set and not one high-water mark: replicas share one durable pull
// consumer, so a device's records 5 and 6 can be on two replicas at once,
// and a record whose ack was lost comes back after later ones were
// counted. A mark would then skip the earlier record for good; the set
// counts it. Records of one day arrive mostly in order, so the set stays
// a range or a few (folded outbox records leave gaps: bounded by the
// fold records of the day).
package side
