package server

// Replace makes every request s's listener reads from now on be served
// by next, a Server built from a newer config: a live reload. Requests
// already being served (streams included) finish on the Server that
// took them, with its router and options. What belongs to the listener
// stays s's and cannot change this way: the connection guard and bound
// (MaxConns), the read, write, header and idle timeouts, and the body
// size limit. The in-flight count and the metrics are shared, so the
// concurrency cap holds across the swap and /metrics counters never go
// back.
//
// next must not have served a request or be serving a listener; it is
// owned by s from here on. Replace is safe to call while s serves, and
// again with a later Server.
func (s *Server) Replace(next *Server) {
	next.inflight = s.inflight
	next.metrics = s.metrics
	s.live.Store(next)
}
