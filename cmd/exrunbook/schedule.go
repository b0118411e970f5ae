package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/exrunbook/exrunbook/internal/schedule"
)

// scheduleConfigFile is the config file a scheduled job reads: --config,
// else exrunbook.yaml in the working directory.
func (g *GlobalOptions) scheduleConfigFile() string {
	if g.ConfigFile == "" {
		return "exrunbook.yaml"
	}
	return g.ConfigFile
}

// scheduledJob is the job that runs this executable with words (e.g.
// "enforce") and the same config file and state directory, as absolute
// paths, from the config file's directory.
func (g *GlobalOptions) scheduledJob(name, description string, words ...string) (schedule.Job, error) {
	absCfg, err := filepath.Abs(g.scheduleConfigFile())
	if err != nil {
		return schedule.Job{}, err
	}
	absState, err := filepath.Abs(g.StateDir)
	if err != nil {
		return schedule.Job{}, err
	}
	exe, err := os.Executable()
	if err != nil {
		return schedule.Job{}, err
	}
	args := append(append([]string{}, words...), "--config", absCfg, "--state-dir", absState)
	return schedule.Job{Name: name, Description: description, Executable: exe, Args: args,
		StateDir: absState, WorkingDir: filepath.Dir(absCfg)}, nil
}

// printJob writes job on Out as systemd units (kind "systemd") or a Task
// Scheduler definition ("windows", which runs exrunbook.exe unless this
// executable is a .exe).
func printJob(io *IOStreams, kind string, job schedule.Job) error {
	var text string
	var err error
	switch kind {
	case "systemd":
		text, err = schedule.Systemd(job)
	case "windows":
		if !strings.HasSuffix(strings.ToLower(job.Executable), ".exe") {
			job.Executable = "exrunbook.exe"
		}
		text, err = schedule.Windows(job)
	default:
		return fmt.Errorf("schedule %q: expected systemd or windows", kind)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(io.Out, text)
	return err
}
