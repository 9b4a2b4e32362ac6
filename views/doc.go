// Package views renders what sovos decided and did, for people and for programs: a plan
// (human, JSON, markdown), the apply summary, the verify report, the state and its
// outputs, and `validate -json`. Nothing here decides anything; every view is tested
// against golden files under testdata/ (`go test ./views -update` rewrites them).
package views
