package psrp

// Command is one command of a pipeline (MS-PSRP §2.2.3.12). exrunbook's
// client always sends IsScript false: the Exchange endpoint runs in
// NoLanguage mode and refuses script text.
type Command struct {
	Name     string
	IsScript bool
	Params   []Parameter
}

// Parameter is one argument of a Command: a named parameter (Name set) or
// a positional one (Name empty). A switch is a named parameter with a bool
// Value (true for -Force, false for -Confirm:$false).
type Parameter struct {
	Name  string
	Value Value
}

// Pipeline is the PowerShell object of a CREATE_PIPELINE message (MS-PSRP
// §2.2.3.11): the commands in pipeline order, and whether the client will
// stream input objects into it (NoInput false).
type Pipeline struct {
	Commands []Command
	NoInput  bool
	IsNested bool
}
