// Package testenv is the test harness every sovos test shares. For end-to-end tests it
// starts the real daemons sovos talks to (the CNCF registry, BuildKit, a git remote) and
// stops them when the test ends, builds the sovos and modsign binaries once per test
// binary (Sovos, Modsign, with Main in TestMain) and runs them as a user would (CLI). For
// unit tests it serves an in-memory registry (MemRegistry) and a fault-injecting proxy
// (FaultProxy). And it holds the rules every test follows: golden files (Golden, with
// -update) and skip-locally-fail-in-CI for a missing prerequisite (SkipOrFail).
package testenv
