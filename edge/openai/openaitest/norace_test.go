//go:build !race

package openaitest

const raceEnabled = false
