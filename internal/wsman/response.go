package wsman

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/exrunbook/exrunbook/internal/wsmv"
)

// response is the part of a WS-Management answer the client reads.
type response struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  struct {
		Action    string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
		RelatesTo string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing RelatesTo"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body struct {
		Fault           *struct{}        `xml:"http://www.w3.org/2003/05/soap-envelope Fault"`
		ResourceCreated *resourceCreated `xml:"http://schemas.xmlsoap.org/ws/2004/09/transfer ResourceCreated"`
		Shell           *struct {
			ShellID string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell ShellId"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
		CommandResponse *struct {
			CommandID string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandId"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandResponse"`
		ReceiveResponse *receiveResponseXML `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell ReceiveResponse"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

type resourceCreated struct {
	Selectors []struct {
		Name  string `xml:"Name,attr"`
		Value string `xml:",chardata"`
	} `xml:"ReferenceParameters>SelectorSet>Selector"`
}

type receiveResponseXML struct {
	Streams []struct {
		Name      string `xml:"Name,attr"`
		CommandID string `xml:"CommandId,attr"`
		Data      string `xml:",chardata"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Stream"`
	States []struct {
		CommandID string `xml:"CommandId,attr"`
		State     string `xml:"State,attr"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandState"`
}

// parseResponse decodes an answer and checks it answers messageID.
func parseResponse(data []byte, messageID string) (*response, error) {
	var r response
	if err := xml.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("the WS-Management answer is not a SOAP envelope: %w", err)
	}
	if messageID != "" && !strings.EqualFold(strings.TrimSpace(r.Header.RelatesTo), messageID) {
		return nil, fmt.Errorf("the WS-Management answer relates to %q, not to the request %s", strings.TrimSpace(r.Header.RelatesTo), messageID)
	}
	return &r, nil
}

// shellID is the ShellId of a CreateResponse: the ResourceCreated
// selector, else rsp:Shell/rsp:ShellId.
func (r *response) shellID() (string, error) {
	if rc := r.Body.ResourceCreated; rc != nil {
		for _, s := range rc.Selectors {
			if s.Name == "ShellId" && strings.TrimSpace(s.Value) != "" {
				return strings.TrimSpace(s.Value), nil
			}
		}
	}
	if r.Body.Shell != nil && strings.TrimSpace(r.Body.Shell.ShellID) != "" {
		return strings.TrimSpace(r.Body.Shell.ShellID), nil
	}
	return "", errors.New("the CreateResponse carries no ShellId")
}

// commandID is the CommandId of a CommandResponse.
func (r *response) commandID() (string, error) {
	if r.Body.CommandResponse == nil || strings.TrimSpace(r.Body.CommandResponse.CommandID) == "" {
		return "", errors.New("the CommandResponse carries no CommandId")
	}
	return strings.TrimSpace(r.Body.CommandResponse.CommandID), nil
}

// received is the stdout of commandID (the pool's when empty) in a
// ReceiveResponse, its base64 pieces decoded and joined, and whether the
// command state is Done.
func (r *response) received(commandID string) ([]byte, bool, error) {
	rr := r.Body.ReceiveResponse
	if rr == nil {
		return nil, false, errors.New("the answer to Receive carries no ReceiveResponse")
	}
	var out []byte
	for _, s := range rr.Streams {
		if s.Name != "stdout" || !sameID(s.CommandID, commandID) {
			continue
		}
		text := strings.TrimSpace(s.Data)
		if text == "" {
			continue
		}
		p, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return nil, false, fmt.Errorf("rsp:Stream of the ReceiveResponse is not base64: %w", err)
		}
		out = append(out, p...)
	}
	done := false
	for _, st := range rr.States {
		if sameID(st.CommandID, commandID) && st.State == wsmv.CommandStateDone {
			done = true
		}
	}
	return out, done, nil
}

// sameID compares a CommandId attribute with the one asked for: the
// pool's answers carry none (or any), a pipeline's its own.
func sameID(got, want string) bool {
	if want == "" {
		return true
	}
	return strings.EqualFold(strings.TrimSpace(got), want)
}

// Fault codes the client acts on (MS-WSMV 2.2.4.43; masterzen/winrm and
// pywinrm re-issue a Receive that got w:TimedOut).
const (
	// FaultCodeTimedOut is the WSManFault code of w:TimedOut.
	FaultCodeTimedOut = 2150858793
)

// parseFault finds a SOAP 1.2 Fault in data and returns it as a
// *FaultError (without Op and Status), or nil when there is none.
func parseFault(data []byte) *FaultError {
	if !bytes.Contains(data, []byte("Fault")) {
		return nil
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var f FaultError
	found := false
	var path []xml.Name
	var reason, message []string
	inMessage := 0 // depth of the outermost f:Message, 0: outside
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name)
			switch {
			case t.Name.Space == wsmv.NSSOAP && t.Name.Local == "Fault":
				found = true
			case t.Name.Space == wsmv.NSFault && t.Name.Local == "WSManFault" && f.Code == 0:
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "Code":
						if n, err := strconv.ParseUint(strings.TrimSpace(a.Value), 10, 32); err == nil {
							f.Code = uint32(n)
						}
					case "Machine":
						f.Machine = a.Value
					}
				}
			case t.Name.Space == wsmv.NSFault && t.Name.Local == "Message" && inMessage == 0:
				inMessage = len(path)
			}
		case xml.EndElement:
			if len(path) > 0 {
				if inMessage == len(path) {
					inMessage = 0
				}
				path = path[:len(path)-1]
			}
		case xml.CharData:
			if !found || len(path) < 2 {
				continue
			}
			s := strings.Join(strings.Fields(string(t)), " ")
			if s == "" {
				continue
			}
			leaf, parent := path[len(path)-1], path[len(path)-2]
			switch {
			case leaf.Local == "Value" && parent.Local == "Subcode":
				f.Subcode = s
			case leaf.Local == "Value" && parent.Local == "Code":
				f.SOAPCode = s
			case leaf.Local == "Text" && parent.Local == "Reason":
				reason = appendNew(reason, s)
			case inMessage > 0:
				message = appendNew(message, s)
			}
		}
	}
	if !found {
		return nil
	}
	f.Reason = strings.Join(reason, " ")
	f.Message = strings.Join(message, " ")
	return &f
}

// appendNew appends s without what the list already says (Windows
// repeats the message in nested WSManFaults, and a ProviderFault's text
// may start with the inner message).
func appendNew(list []string, s string) []string {
	for _, x := range list {
		if strings.Contains(x, s) {
			return list
		}
		if rest, ok := strings.CutPrefix(s, x); ok {
			s = strings.TrimSpace(rest)
		}
	}
	if s == "" {
		return list
	}
	return append(list, s)
}
