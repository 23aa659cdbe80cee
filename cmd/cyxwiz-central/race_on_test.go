//go:build race

package main

// raceDetector: the tests run under -race (latency floors double).
const raceDetector = true
