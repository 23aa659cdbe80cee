package commands

import "github.com/google/uuid"

// NewID returns a new id for a job or node the server names: a UUIDv7
// (RFC 9562), in lower case. Its first 48 bits are the time in
// milliseconds, so ids made one after another sort together: a new job's
// stream key lands beside the last one's in the store's index (a few
// pages kept hot) instead of on a random page of an index that grows with
// the history. Nothing may rely on ids being random or unguessable; ids
// clients choose are still any UUID.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }
