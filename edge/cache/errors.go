package cache

import "errors"

var (
	// ErrClosed is returned by Flush and Purge after Close.
	ErrClosed = errors.New("cache: closed")
	// ErrBusy is returned by Purge when the writer did not take the request
	// within purgeWait, because its queue stayed full.
	ErrBusy = errors.New("cache: writer busy")
	// ErrLayout is returned by Open when the file holds a cache/v1 bucket
	// written by an incompatible layout.
	ErrLayout = errors.New("cache: unknown bucket layout")
)
