// Package rps is the runspace semantics of the lab's Exchange endpoint,
// `/PowerShell/` with the configuration Microsoft.Exchange: what a
// pipeline a PowerShell remoting client sends does there, independent of
// the transport (the lab's WS-Man server decodes the PSRP messages, calls
// Endpoint.Run, and encodes what the Sink receives). Sources: Microsoft's
// "Connect to Exchange servers using remote PowerShell", Set-ThrottlingPolicy
// and about_Language_Modes pages, PowerShell's InitialSessionState.cs (the
// restricted remote-server session), jborean93/pypsrp#103 and #29, and the
// real samples in internal/psrp/testdata/samples; README.md, "The lab's
// Exchange endpoint", says what it models.
//
//	ep, err := rps.New(rps.Options{Host: host, Server: "EX01",
//	    Assignments: map[string][]string{`CONTOSO\Administrator`: {rps.OrganizationManagement}}})
//	p, err := ep.Principal(`CONTOSO\Administrator`) // at session creation; *NoRoleError refuses it
//	rec := ep.Run(ctx, p, pipeline, input, sink)    // nil: Completed; else Failed (Stopped when ctx ended)
//
// # NoLanguage
//
// A Command with IsScript set, or a script-block argument, fails the
// pipeline with ParseException "The syntax is not supported by this
// runspace. This can occur if the runspace is in no-language mode."
// (FullyQualifiedErrorId ScriptsNotAllowed, category ParserError). Commands
// run as a command list through the lab interpreter's binder
// (pwsh.Host.RunPipeline): named and positional arguments, switches
// (bool), values converted to the parameter's type with PowerShell's
// binding errors, SecureString to the cmdlet's SecureString, lists to
// arrays, dictionaries to hashtables (@{Add=…; Remove=…}), and input
// objects bound by value and by property name (plain strings into
// Set-CASMailbox -Identity). A parameter named without a leading '-' takes
// its value even when it is $null (PowerShell's CommandParameter rule).
// A value nested more than 32 levels deep, or referring to itself, is
// refused before anything runs (ValueNotSupported, InvalidArgument; the
// lab's words).
//
// # Commands and RBAC
//
// Outside the Exchange cmdlets only Select-Object, Measure-Object,
// Get-Command, Get-FormatData, Out-Default and Exit-PSSession exist (no
// aliases); anything else, and any Exchange cmdlet outside the user's
// role groups, is "The term 'X' is not recognized as the name of a cmdlet,
// function, script file, or operable program. …" (CommandNotFoundException,
// category ObjectNotFound). A parameter outside the roles is PowerShell's
// NamedParameterNotFound "A parameter cannot be found that matches
// parameter name 'X'." (ParameterBindingException), because the cmdlet is
// bound against its allowed parameters only. The role groups (see
// roleGroups): Organization Management (every cmdlet and parameter),
// Recipient Management (Get-/Set-CASMailbox, Get-Mailbox, Get-Recipient,
// Get-Group, Get-DistributionGroup, Get-DistributionGroupMember,
// Get-OrganizationConfig, Set-ADServerSettings, Get-DynamicDistributionGroup, and Get-User
// once the lab implements it; without Get-Mailbox
// -Server/-Database and Get-Recipient -Database), View-Only Organization
// Management (every Get- cmdlet). A user with no role group cannot open a
// session: Principal returns *NoRoleError, "The user "X" isn't assigned
// to any management roles.".
//
// Get-Command lists what the user may run (-Name with wildcards, -Verb,
// -Noun, -CommandType Cmdlet|All; an exact -Name the user lacks is a
// non-terminating CommandNotFoundException). A client can rely on each
// object having the type chain System.Management.Automation.CmdletInfo,
// CommandInfo, System.Object; ToString and Name the command's name;
// CommandType the CommandTypes enum (ToString "Cmdlet", value 8), also
// for the non-Exchange commands, which a real server may list as proxy
// functions; Verb, Noun, ModuleName, ImplementingType strings; and
// Parameters a dictionary whose keys are exactly the parameters the user
// may pass (the allowed ones plus the common parameters), each value a
// ParameterMetadata object with Name, ParameterType (the .NET type name),
// Aliases (list), IsDynamic and SwitchParameter. Get-FormatData writes
// nothing (the lab has no formatting data), Out-Default writes nothing to
// the output (a client without a host UI sees nothing), Exit-PSSession
// ends without output.
//
// # Objects
//
// Output follows Exchange's default (Partial) serialization level (the default
// of Exchange's ExchangeRunspaceConfigurationSettings, as decompiled in
// PiratesRE/exchange_diff; the shape of a published Exchange 2016 CU23
// Get-Mailbox wire capture): type chains without "Deserialized." and with
// every ancestor (typeChains), Exchange properties as Adapted, no
// PSComputerName/RunspaceId; strings, booleans, whole numbers (I32 when they
// fit), dates, GUIDs, byte arrays and URIs as primitives; list properties as
// MultiValuedProperty objects (the sample's collection type for authentication
// methods, extended-protection flags, e-mail addresses and AD links,
// MultiValuedProperty<String> otherwise) holding strings; enums, Unlimited,
// identities and every other value as their string form.
// Get-ExchangeCertificate objects carry only RawData (the DER certificate),
// with X509Certificate2's ToString, as every real sample does: services,
// thumbprint and status are not reported over this endpoint. Select-Object
// -Property output is Selected.<type>, PSCustomObject, System.Object with the
// chosen properties as Extended (note) properties.
//
// # Errors, warnings, prompts, throttling
//
// Cmdlet errors keep the interpreter's message, exception type, category,
// target (TargetName, TargetType, Target) and FullyQualifiedErrorId.
// Errors an Exchange cmdlet raises (id "…,Microsoft.Exchange.…", an
// exception outside System.Management.Automation) get the header
// Exchange's endpoint writes in front of the id:
// "[Server=EX01,RequestId=<guid>,TimeStamp=<M/d/yyyy h:mm:ss tt>] [FailureCategory=Cmdlet-<exception>] ";
// PowerShell's own binding and host errors keep their plain id. Per-item
// failures are
// non-terminating (Sink.Error); the ResultSize warning goes to
// Sink.Warning. The session has no interactive host: a prompt (SMTP
// replacement without -Force, Remove-ExchangeCertificate without
// -Confirm:$false) fails with PowerShell's HostException "A command that
// prompts the user failed because the host program or the command type
// does not support user interaction. The host was attempting to request
// confirmation with the following message: …" (HostFunctionNotImplemented,
// NotImplemented). Cmdlet calls are counted by the Host's Stats and the
// Host's fault injector applies; Options.CmdletBudget/CmdletPeriod add
// the PowerShellMaxCmdlets budget, refused with OverBudgetException and
// Exchange's throttling text before the pipeline runs.
package rps
