package order

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits on an EU form, checked before and while its XML is read: the
// size before a byte is parsed, the depth and the number of elements as
// each element opens, so that no form costs more than its bytes.
const (
	// MaxFormSize bounds a form's XML. A certificate is a few kilobytes;
	// the bound also keeps an order record that holds every field of one
	// verbatim under MaxSize.
	MaxFormSize     = 256 << 10
	maxFormDepth    = 12   // the forms nest four or five deep
	maxFormElements = 4000 // elements of one form
	// maxFormFieldBytes bounds the paths and values of the fields one
	// form keeps verbatim: an order record keeps those of its EPOC-PR,
	// Annex V and Annex VI and stays well under MaxSize.
	maxFormFieldBytes = 64 << 10
)

// xmlNode is one element of a form: its name (the local name, or
// {namespace}local when in another namespace than the form's), its
// attributes, its text and its children. used marks what the mapping
// read; the rest is kept verbatim (formNode.rest).
type xmlNode struct {
	name  string
	attrs []xml.Attr
	text  strings.Builder
	kids  []*xmlNode
	used  bool
	// usedAttrs are the attributes the mapping read.
	usedAttrs map[string]bool
}

// readFormXML reads a form's XML into its tree. It refuses what a form
// has no use for and what could make a parser do more than read the
// bytes: a DOCTYPE or any other declaration (<!...>: no DTD, so no entity,
// internal or external, is ever defined or fetched; Go's decoder fetches
// none either, and knows only the five predefined ones), a processing
// instruction other than the XML declaration, an encoding other than
// UTF-8, more than one root element, text outside it, and a form deeper
// or larger than the limits above. It returns the root and its namespace.
func readFormXML(data []byte) (*xmlNode, string, error) {
	if len(data) > MaxFormSize {
		return nil, "", fmt.Errorf("form is %d bytes, more than %d", len(data), MaxFormSize)
	}
	// A byte order mark, as Windows tools write one, is no text outside
	// the root; the form's digest is of its bytes as sent all the same.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	var (
		root     *xmlNode
		rootNS   string
		stack    []*xmlNode
		elements int
	)
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("form XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, "", fmt.Errorf("form XML: line %d: a DOCTYPE or other declaration (<!%s...>) is not allowed: forms take no DTD and no entities, internal or external",
				lineAt(data, start), printable(firstWord(t)))
		case xml.ProcInst:
			if t.Target != "xml" || root != nil {
				return nil, "", fmt.Errorf("form XML: line %d: processing instruction <?%s?> is not allowed", lineOf(dec), printable(t.Target))
			}
		case xml.Comment:
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, "", fmt.Errorf("form XML: line %d: a second root element <%s>", lineOf(dec), printable(t.Name.Local))
			}
			if len(stack) >= maxFormDepth {
				return nil, "", fmt.Errorf("form XML: line %d: elements nested more than %d deep", lineOf(dec), maxFormDepth)
			}
			if elements++; elements > maxFormElements {
				return nil, "", fmt.Errorf("form XML: more than %d elements", maxFormElements)
			}
			n := &xmlNode{name: t.Name.Local, usedAttrs: map[string]bool{}}
			if root == nil {
				root, rootNS = n, t.Name.Space
			} else {
				if t.Name.Space != rootNS {
					n.name = "{" + t.Name.Space + "}" + t.Name.Local
				}
				parent := stack[len(stack)-1]
				parent.kids = append(parent.kids, n)
			}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue // namespace declarations: the names carry them
				}
				n.attrs = append(n.attrs, a)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, "", fmt.Errorf("form XML: line %d: text outside the root element", lineOf(dec))
				}
				continue
			}
			stack[len(stack)-1].text.Write(t)
		}
	}
	if root == nil {
		return nil, "", errors.New("form XML: no root element")
	}
	return root, rootNS, nil
}

// lineAt is the line of the first markup at or after offset.
func lineAt(data []byte, offset int64) int {
	rest := data[offset:]
	if i := bytes.IndexByte(rest, '<'); i >= 0 {
		rest = rest[:i]
	}
	return 1 + bytes.Count(data[:offset], []byte("\n")) + bytes.Count(rest, []byte("\n"))
}

func lineOf(d *xml.Decoder) int {
	line, _ := d.InputPos()
	return line
}

func firstWord(b []byte) string {
	s := string(b)
	if i := strings.IndexAny(s, " \t\r\n["); i >= 0 {
		s = s[:i]
	}
	if len(s) > 20 {
		s = s[:20]
	}
	return s
}

// value is the node's text, trimmed.
func (n *xmlNode) value() string { return strings.TrimSpace(n.text.String()) }

// attr returns the attribute name (no namespace) and marks it read.
func (n *xmlNode) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			n.usedAttrs[name] = true
			return a.Value, true
		}
	}
	return "", false
}

// all returns the children called name and marks them read.
func (n *xmlNode) all(name string) []*xmlNode {
	var out []*xmlNode
	for _, k := range n.kids {
		if k.name == name {
			k.used = true
			out = append(out, k)
		}
	}
	return out
}

// FormField is one field of a form that the order record does not map
// onto its own fields, kept as the form gave it: its path from the root
// (Section/Element/...; [n] numbers repeated elements from 1; @name is an
// attribute) and its text, untrimmed.
type FormField struct {
	Path  string `json:"path"`
	Value string `json:"value"`
}

// rest lists, in document order, every element and attribute under n that
// the mapping did not read, each with its path below prefix.
func (n *xmlNode) rest(prefix string, out []FormField) []FormField {
	for _, a := range n.attrs {
		name := a.Name.Local
		if a.Name.Space != "" {
			name = "{" + a.Name.Space + "}" + name
		}
		if a.Name.Space != "" || !n.usedAttrs[a.Name.Local] {
			out = append(out, FormField{Path: prefix + "/@" + name, Value: a.Value})
		}
	}
	count := map[string]int{}
	for _, k := range n.kids {
		count[k.name]++
	}
	seen := map[string]int{}
	for _, k := range n.kids {
		seen[k.name]++
		path := prefix + "/" + k.name
		if count[k.name] > 1 {
			path += fmt.Sprintf("[%d]", seen[k.name])
		}
		text := k.text.String()
		switch {
		case len(k.kids) == 0 && !k.used:
			out = append(out, FormField{Path: path, Value: text})
		case len(k.kids) > 0 && strings.TrimSpace(text) != "":
			out = append(out, FormField{Path: path + "/text()", Value: text})
		}
		out = k.rest(path, out)
	}
	return out
}
