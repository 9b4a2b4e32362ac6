// Package testenv is the test harness every sovos test shares: it starts the real daemons
// sovos talks to (the CNCF registry, BuildKit) for end-to-end tests and stops them when the
// test ends, and holds the helpers tests would otherwise write for themselves: golden files
// (Golden, with -update) and the skip-locally-fail-in-CI rule for missing prerequisites
// (SkipOrFail).
package testenv
