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
	// Bool marks a [bool] parameter (Set-CASMailbox
	// -MAPIBlockOutlookRpcHttp) as opposed to a [switch] (-Force). PSRP
	// sends both alike; only String tells them apart: a [bool] shows as
	// -Name:$true / -Name:$false, a switch as -Force / -Confirm:$false.
	Bool bool
}

// Pipeline is the PowerShell object of a CREATE_PIPELINE message (MS-PSRP
// §2.2.3.11): the commands in pipeline order, and whether the client will
// stream input objects into it (NoInput false).
type Pipeline struct {
	Commands []Command
	NoInput  bool
	IsNested bool
}
