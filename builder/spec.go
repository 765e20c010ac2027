// Package builder turns what a user asks of an image into a FROM-scratch
// Dockerfile and a deterministic build-context stream for the Engine API.
//
// Everything here is pure computation over the folder and the options; the
// package never talks to a daemon and never prints.
package builder

// Spec is the image configuration asked for. Values are taken literally: the
// Dockerfile encoder either carries each one into the image config unchanged
// or refuses it, so no value can add or change an instruction.
type Spec struct {
	Entrypoint []string
	Cmd        []string
	// Ports are sorted and free of duplicates, as ParsePorts returns them.
	Ports      []Port
	Env        []KeyValue
	Labels     []KeyValue
	Workdir    string
	User       string
	Volumes    []string
	StopSignal string
}

// KeyValue keeps the order the user gave: for ENV a later value of the same
// key wins, exactly as docker build treats it.
type KeyValue struct {
	Key   string
	Value string
}
