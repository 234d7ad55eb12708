// Package llm holds edgeway's canonical request, response and stream types,
// the Provider contract every upstream implements, and the error kinds that
// drive failover. It does no I/O: dialect packages translate their wire
// formats to and from these types, and the router moves them between
// providers.
package llm
