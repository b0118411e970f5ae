// Package tui is the guided, full-screen view of a runbook run, built with
// Bubble Tea. It is one view of the engine's event stream (the plain and
// JSON-lines printers are the others): it shows every step with its status,
// the selected step's plan as a before → after diff and its checks with their
// evidence, a progress bar for batched work and a scrollable log, and it
// drives the engine through a Controller.
//
// All I/O happens in tea.Cmds: Update never blocks. An apply is confirmed in
// a dialog that names the changes the engine computed for that very run; a
// wait can only be ended by typing the step id; quitting keeps the state and
// prints the command that resumes.
package tui
