package psrp

import (
	"fmt"
)

// CreatePipeline is CREATE_PIPELINE (MS-PSRP §2.2.2.10): the pipeline and
// the invocation settings around it.
type CreatePipeline struct {
	Pipeline Pipeline
	// ApartmentState is an ApartmentState (ApartmentUnknown as PowerShell
	// sends), RemoteStreamOptions a RemoteStreamOptions (0, None).
	ApartmentState      int32
	RemoteStreamOptions int32
	AddToHistory        bool
	HostInfo            HostInfo
}

// NewCreatePipeline returns the CREATE_PIPELINE of pl with the settings
// Windows PowerShell 5.1 uses for a hostless client.
func NewCreatePipeline(pl Pipeline) CreatePipeline {
	return CreatePipeline{Pipeline: pl, ApartmentState: ApartmentUnknown, HostInfo: NoHost}
}

// MessageType implements Body.
func (CreatePipeline) MessageType() MessageType { return MsgCreatePipeline }

func pipelineResultTypes(v int32) *Object {
	names := map[int32]string{0: "None", 1: "Output", 2: "Error", 3: "Warning", 4: "Verbose", 5: "Debug", 6: "Information", 7: "All", 8: "Null"}
	n, ok := names[v]
	if !ok {
		n = fmt.Sprint(v)
	}
	return NewEnum(pipelineResultTypesType, n, v)
}

func (c Command) object() (*Object, error) {
	if c.Name == "" {
		return nil, fmt.Errorf("psrp: a command without a name")
	}
	args := make([]Value, len(c.Params))
	for i, p := range c.Params {
		var n Value
		if p.Name != "" {
			n = p.Name
		}
		args[i] = propertyBag(Property{"N", n}, Property{"V", p.Value})
	}
	return propertyBag(
		Property{"Cmd", c.Name},
		Property{"IsScript", c.IsScript},
		Property{"UseLocalScope", nil},
		Property{"MergeMyResult", pipelineResultTypes(0)},
		Property{"MergeToResult", pipelineResultTypes(0)},
		Property{"MergePreviousResults", pipelineResultTypes(0)},
		Property{"MergeError", pipelineResultTypes(0)},
		Property{"MergeWarning", pipelineResultTypes(0)},
		Property{"MergeVerbose", pipelineResultTypes(0)},
		Property{"MergeDebug", pipelineResultTypes(0)},
		Property{"MergeInformation", pipelineResultTypes(0)},
		Property{"Args", &Object{TypeNames: psObjectListTypes, Kind: ListContainer, Items: args}},
	), nil
}

func (m CreatePipeline) value() (Value, error) {
	if len(m.Pipeline.Commands) == 0 {
		return nil, fmt.Errorf("psrp: a pipeline without commands")
	}
	cmds := make([]Value, len(m.Pipeline.Commands))
	for i, c := range m.Pipeline.Commands {
		o, err := c.object()
		if err != nil {
			return nil, err
		}
		cmds[i] = o
	}
	ps := propertyBag(
		Property{"IsNested", m.Pipeline.IsNested},
		Property{"ExtraCmds", nil},
		Property{"Cmds", &Object{TypeNames: psObjectListTypes, Kind: ListContainer, Items: cmds}},
		Property{"History", nil},
		Property{"RedirectShellErrorOutputPipe", false},
	)
	streamName, ok := streamOptionsNames[m.RemoteStreamOptions]
	if !ok {
		streamName = fmt.Sprint(m.RemoteStreamOptions)
	}
	return propertyBag(
		Property{"NoInput", m.Pipeline.NoInput},
		Property{"ApartmentState", NewEnum(apartmentStateType, enumName(apartmentNames, m.ApartmentState), m.ApartmentState)},
		Property{"RemoteStreamOptions", NewEnum(remoteStreamOptionsType, streamName, m.RemoteStreamOptions)},
		Property{"AddToHistory", m.AddToHistory},
		Property{"HostInfo", m.HostInfo.value()},
		Property{"PowerShell", ps},
		Property{"IsNested", m.Pipeline.IsNested},
	), nil
}

func decodeCreatePipeline(v Value) (Body, error) {
	o, err := asObject(v, "CREATE_PIPELINE")
	if err != nil {
		return nil, err
	}
	p := props{o: o, what: "CREATE_PIPELINE"}
	m := CreatePipeline{
		ApartmentState:      p.int32("ApartmentState", false),
		RemoteStreamOptions: p.int32("RemoteStreamOptions", false),
		AddToHistory:        p.boolean("AddToHistory", false),
	}
	m.Pipeline.NoInput = p.boolean("NoInput", true)
	m.Pipeline.IsNested = p.boolean("IsNested", false)
	h, err := decodeHostInfo(p.object("HostInfo", false), "CREATE_PIPELINE HostInfo")
	if err != nil {
		return nil, err
	}
	m.HostInfo = h
	ps := p.object("PowerShell", true)
	if p.err != nil {
		return nil, p.err
	}
	pp := props{o: ps, what: "CREATE_PIPELINE PowerShell"}
	if pp.boolean("IsNested", false) {
		m.Pipeline.IsNested = true
	}
	cmds := pp.object("Cmds", true)
	if pp.err != nil {
		return nil, pp.err
	}
	if len(cmds.Items) == 0 {
		return nil, fmt.Errorf("psrp: CREATE_PIPELINE has no commands")
	}
	for i, cv := range cmds.Items {
		co, err := asObject(cv, fmt.Sprintf("CREATE_PIPELINE command %d", i+1))
		if err != nil {
			return nil, err
		}
		cp := props{o: co, what: fmt.Sprintf("CREATE_PIPELINE command %d", i+1)}
		c := Command{Name: cp.str("Cmd", true), IsScript: cp.boolean("IsScript", false)}
		if args := cp.object("Args", false); args != nil {
			for j, av := range args.Items {
				ao, err := asObject(av, fmt.Sprintf("argument %d of %s", j+1, c.Name))
				if err != nil {
					return nil, err
				}
				ap := props{o: ao, what: fmt.Sprintf("argument %d of %s", j+1, c.Name)}
				param := Parameter{Name: ap.str("N", false)}
				param.Value = ap.value("V", true)
				if ap.err != nil {
					return nil, ap.err
				}
				c.Params = append(c.Params, param)
			}
		}
		if cp.err != nil {
			return nil, cp.err
		}
		m.Pipeline.Commands = append(m.Pipeline.Commands, c)
	}
	return m, p.err
}
