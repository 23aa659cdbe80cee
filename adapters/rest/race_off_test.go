//go:build !race

package rest_test

// raceDetector: the tests run under -race.
const raceDetector = false
