// Package e2e drives the edgeway binary, as a user starts it, with the
// official openai-go SDK as the client, in front of fake cloud upstreams
// and the real Ollama. It is its own module because the SDK costs minutes
// and gigabytes to compile, which the main module's tests should not pay.
package e2e
