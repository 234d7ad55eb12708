// Package fleet links a device to its fleet over NATS JetStream: the
// connection (one auth method, TLS), the device's id, and the subjects,
// streams and buckets both sides use. The device drains its usage ledger
// to the EDGEWAY_USAGE stream exactly once, publishes its status, and
// takes live config from the edgeway_config bucket; the fleet side
// (edgeway fleet) consumes the stream into rollups kept in JetStream KV.
package fleet
