package disclosure

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// caseContext is the JSON-LD context of case.jsonld: the CASE and UCO
// ontologies (https://caseontology.org), version 1.x namespaces.
var caseContext = map[string]string{
	"kb":                 "urn:custos:",
	"case-investigation": "https://ontology.caseontology.org/case/investigation/",
	"uco-action":         "https://ontology.unifiedcyberontology.org/uco/action/",
	"uco-core":           "https://ontology.unifiedcyberontology.org/uco/core/",
	"uco-identity":       "https://ontology.unifiedcyberontology.org/uco/identity/",
	"uco-observable":     "https://ontology.unifiedcyberontology.org/uco/observable/",
	"uco-tool":           "https://ontology.unifiedcyberontology.org/uco/tool/",
	"uco-types":          "https://ontology.unifiedcyberontology.org/uco/types/",
	"uco-vocabulary":     "https://ontology.unifiedcyberontology.org/uco/vocabulary/",
	"xsd":                "http://www.w3.org/2001/XMLSchema#",
}

type jsonld = map[string]any

func ref(id string) jsonld { return jsonld{"@id": id} }

func typed(t, v string) jsonld { return jsonld{"@type": t, "@value": v} }

func stampJSONLD(t time.Time) jsonld { return typed("xsd:dateTime", t.UTC().Format(time.RFC3339Nano)) }

// caseJSONLD describes the custody chain of the disclosed items in
// CASE/UCO 1.4 (it conforms to CASE 1.4.0's shapes, no undefined term):
// the order as an authorization issued by (createdBy) the authority, with
// an annotation naming its selectors, its data categories and its record
// (custody/order.json and its SHA-256); each capture as an investigative
// action, its performer the actor who ran it, with the provenance record
// of what it preserved; the disclosure as a final action, performed by
// the actor who disclosed; every disclosed file with its path in the
// package, its original name and source, its categories, media type and
// hashes; and the custody events as annotations naming their log index.
func caseJSONLD(in *Contents, o *orderRecord, items []File) ([]byte, error) {
	base := "kb:" + o.ID + "-"
	org := in.organization()
	graph := []jsonld{
		{"@id": base + "provider", "@type": "uco-identity:Organization", "uco-core:name": org},
		{"@id": base + "authority", "@type": "uco-identity:Organization", "uco-core:name": o.Authority},
		{"@id": base + "tool", "@type": "uco-tool:Tool", "uco-core:name": "custos", "uco-tool:toolType": "evidence preservation agent"},
		{
			"@id": base + "authorization", "@type": "case-investigation:Authorization",
			"case-investigation:authorizationType":       "preservation order (" + o.Profile + ")",
			"case-investigation:authorizationIdentifier": []string{o.Reference, o.ID},
			"uco-core:name":        o.Reference,
			"uco-core:description": o.LegalBasis,
			"uco-core:startTime":   stampJSONLD(o.ReceivedAt),
			"uco-core:endTime":     stampJSONLD(o.ExpiresAt),
			"uco-core:createdBy":   ref(base + "authority"),
		},
	}
	graph = append(graph, orderScope(base, o, in.Order)...)
	files := map[string]string{}      // sha256 -> @id
	sealedIn := map[uint64][]string{} // an items.sealed event's index -> the @id of the files of its batch
	for _, it := range items {
		id := base + "file-" + it.SHA256[:16]
		files[it.SHA256] = id
		sealedIn[it.PreservedIndex] = append(sealedIn[it.PreservedIndex], id)
		graph = append(graph, fileNode(id, it))
	}
	// One investigative action per capture that preserved a disclosed item.
	type capture struct {
		id         string
		start, end time.Time
		actor      string
		objects    []jsonld
	}
	captures := map[string]*capture{}
	var order []string
	for _, e := range in.Events {
		ev := e.Event
		// Only the capture's id is needed here: it is read even when the
		// event's cut_off is not a time (the verifier names that).
		cd, _ := chain.ReadCaptureDetails(ev)
		cid := cd.Capture
		switch ev.Type {
		case chain.CaptureStarted:
			captures[cid] = &capture{id: cid, start: ev.Time, actor: ev.Actor}
			order = append(order, cid)
		case chain.CaptureCompleted, chain.CaptureFailed:
			if c := captures[cid]; c != nil {
				c.end = ev.Time
			}
		case chain.ItemPreserved:
			if c := captures[cid]; c != nil && len(ev.Items) == 1 {
				if fid, ok := files[ev.Items[0].SHA256]; ok {
					c.objects = append(c.objects, ref(fid))
				}
			}
		case chain.ItemsSealed:
			if c := captures[cid]; c != nil {
				for _, fid := range sealedIn[e.Index] {
					c.objects = append(c.objects, ref(fid))
				}
			}
		}
		graph = append(graph, jsonld{
			"@id": base + "event-" + strconv.FormatUint(e.Index, 10), "@type": "uco-core:Annotation",
			"uco-core:name":              string(ev.Type),
			"uco-core:description":       "custody log entry " + strconv.FormatUint(e.Index, 10) + " (" + chain.EventHash(e.Encoded) + ")",
			"uco-core:objectCreatedTime": stampJSONLD(ev.Time),
			"uco-core:object":            []jsonld{ref(base + "authorization")},
		})
	}
	for _, cid := range order {
		c := captures[cid]
		if len(c.objects) == 0 {
			continue
		}
		action := jsonld{
			"@id": base + "capture-" + cid, "@type": "case-investigation:InvestigativeAction",
			"uco-core:name": "preservation (capture " + cid + ")", "uco-action:startTime": stampJSONLD(c.start),
			"uco-action:performer":   identity(base, c.actor),
			"uco-action:instrument":  ref(base + "tool"),
			"uco-action:environment": ref(base + "provider"),
			"uco-action:object":      []jsonld{ref(base + "authorization")},
			"uco-action:result":      []jsonld{ref(base + "provenance-" + cid)},
		}
		if !c.end.IsZero() {
			action["uco-action:endTime"] = stampJSONLD(c.end)
		}
		graph = append(graph, action, jsonld{
			"@id": base + "provenance-" + cid, "@type": "case-investigation:ProvenanceRecord",
			"case-investigation:exhibitNumber": cid, "uco-core:object": c.objects,
		})
	}
	var all []jsonld
	for _, it := range items {
		all = append(all, ref(files[it.SHA256]))
	}
	recipient := in.recipient()
	graph = append(graph,
		jsonld{
			"@id": base + "disclosure", "@type": "case-investigation:InvestigativeAction",
			"uco-core:name":          "disclosure to " + o.Authority + " (" + o.RequestingState + ")",
			"uco-core:description":   "recipient key: " + recipient + "; checkpoint size " + strconv.FormatUint(in.Checkpoint.Size, 10),
			"uco-action:startTime":   stampJSONLD(in.Time),
			"uco-action:performer":   identity(base, in.Actor),
			"uco-action:instrument":  ref(base + "tool"),
			"uco-action:environment": ref(base + "provider"),
			"uco-action:object":      append([]jsonld{ref(base + "authorization"), ref(base + "order-record")}, all...),
			"uco-action:result":      []jsonld{ref(base + "provenance-disclosure")},
		},
		jsonld{"@id": base + "provenance-disclosure", "@type": "case-investigation:ProvenanceRecord",
			"case-investigation:exhibitNumber": o.ID, "uco-core:object": all},
	)
	return jsonMarshal(jsonld{"@context": caseContext, "@graph": graph})
}

// identity is the person or service who performed an action, by the name
// the custody log gives them ("" when it gave none).
func identity(base, actor string) jsonld {
	name := cmp.Or(actor, "unknown")
	return jsonld{"@id": base + "actor-" + safeSegment(name), "@type": "uco-identity:Identity", "uco-core:name": name}
}

// hashes are the Hash nodes of a content's digests, hashMethod a
// HashNameVocab member as an xsd:string (UCO 1.4).
func hashes(id string, sums ...[2]string) []jsonld {
	var out []jsonld
	for _, s := range sums {
		out = append(out, jsonld{"@id": id + "-" + strings.ToLower(s[0]), "@type": "uco-types:Hash",
			"uco-types:hashMethod": s[0], "uco-types:hashValue": typed("xsd:hexBinary", s[1])})
	}
	return out
}

func sizeJSONLD(n int64) jsonld { return typed("xsd:integer", strconv.FormatInt(n, 10)) }

// fileNode is a disclosed file: named by its path in the package, with
// its original name and source, categories, media type and digests.
func fileNode(id string, it File) jsonld {
	tags := []string{"source:" + it.Source}
	for _, c := range it.Categories {
		tags = append(tags, "category:"+c)
	}
	content := jsonld{"@id": id + "-content", "@type": "uco-observable:ContentDataFacet",
		"uco-observable:sizeInBytes": sizeJSONLD(it.Size),
		"uco-observable:hash":        hashes(id, [2]string{"SHA256", it.SHA256}, [2]string{"SHA512", it.SHA512})}
	if it.MediaType != "" {
		content["uco-observable:mimeType"] = it.MediaType
	}
	return jsonld{
		"@id": id, "@type": "uco-observable:File", "uco-core:name": it.Path, "uco-core:tag": tags,
		"uco-core:description": "captured by source " + it.Source + " as " + it.Name,
		"uco-core:hasFacet": []jsonld{
			{"@id": id + "-file", "@type": "uco-observable:FileFacet",
				"uco-observable:fileName": path.Base(it.Name), "uco-observable:filePath": it.Name,
				"uco-observable:sizeInBytes": sizeJSONLD(it.Size)},
			content,
		},
	}
}

// orderScope is what the order asks for: its record (custody/order.json,
// with its SHA-256), its selectors and its data categories, in an
// annotation on the authorization.
func orderScope(base string, o *orderRecord, record []byte) []jsonld {
	sum := sha256.Sum256(record)
	graph := []jsonld{{
		"@id": base + "order-record", "@type": "uco-observable:File", "uco-core:name": pkgOrder,
		"uco-core:description": "the order as recorded; its SHA-256 is the order_sha256 of the order's newest order event",
		"uco-core:hasFacet": []jsonld{
			{"@id": base + "order-record-file", "@type": "uco-observable:FileFacet",
				"uco-observable:fileName": path.Base(pkgOrder), "uco-observable:filePath": pkgOrder,
				"uco-observable:sizeInBytes": sizeJSONLD(int64(len(record)))},
			{"@id": base + "order-record-content", "@type": "uco-observable:ContentDataFacet",
				"uco-observable:mimeType": "application/json", "uco-observable:sizeInBytes": sizeJSONLD(int64(len(record))),
				"uco-observable:hash": hashes(base+"order-record", [2]string{"SHA256", hex.EncodeToString(sum[:])})},
		},
	}}
	objects := []jsonld{ref(base + "authorization"), ref(base + "order-record")}
	var sels []string
	for i, s := range o.Selectors {
		id := base + "selector-" + strconv.Itoa(i+1)
		graph = append(graph, jsonld{"@id": id, "@type": "uco-observable:ObservableObject",
			"uco-core:name": s.Type + ":" + s.Value, "uco-core:tag": []string{"selector", "selector-type:" + s.Type}})
		objects = append(objects, ref(id))
		sels = append(sels, s.Type+":"+s.Value)
	}
	tags := []string{}
	for _, c := range o.Categories {
		tags = append(tags, "category:"+c)
	}
	return append(graph, jsonld{
		"@id": base + "order-scope", "@type": "uco-core:Annotation", "uco-core:name": "order scope",
		"uco-core:statement": "selectors: " + cmp.Or(strings.Join(sels, ", "), "none") +
			"; data categories: " + cmp.Or(strings.Join(o.Categories, ", "), "none"),
		"uco-core:tag": tags, "uco-core:object": objects,
	})
}

// jsonMarshal encodes v without HTML escaping, indented for people.
func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
