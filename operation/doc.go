// Package operation runs sovos's commands: each takes a plain request (Inputs, the
// configuration directory, variables, workspace and state location, plus what the
// command needs) and returns a result for package views to render; none prints or
// parses flags. It owns what used to be decided per command: the evaluation passes
// (the settings, then one evaluation with the hasher), opening the state backend,
// locking and the stale-plan check, the builder pool, and the rules of state push.
// cmd/sovos maps flags to requests, asks the questions (ApplyRequest.Approve,
// ForceUnlockRequest.Confirm) and picks the view.
package operation
