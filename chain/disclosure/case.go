package disclosure

import (
	"bytes"
	"encoding/json"
	"strconv"
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
// CASE/UCO: the order as an authorization, each capture as an
// investigative action with the provenance record of what it preserved,
// the disclosure as a final action, every disclosed file with its hashes,
// and the custody events as annotations naming their log index.
func caseJSONLD(in *Contents, o *orderRecord, items []File) ([]byte, error) {
	base := "kb:" + o.ID + "-"
	org := in.organization()
	graph := []jsonld{
		{"@id": base + "provider", "@type": "uco-identity:Organization", "uco-core:name": org},
		{"@id": base + "tool", "@type": "uco-tool:Tool", "uco-core:name": "custos", "uco-tool:toolType": "evidence preservation agent"},
		{
			"@id": base + "authorization", "@type": "case-investigation:Authorization",
			"case-investigation:authorizationType":       "preservation order (" + o.Profile + ")",
			"case-investigation:authorizationIdentifier": []string{o.Reference, o.ID},
			"uco-core:name":        o.Reference,
			"uco-core:description": o.LegalBasis,
			"uco-core:startTime":   stampJSONLD(o.ReceivedAt),
			"uco-core:endTime":     stampJSONLD(o.ExpiresAt),
			"uco-core:authorIdentity": jsonld{
				"@id": base + "authority", "@type": "uco-identity:Organization", "uco-core:name": o.Authority,
			},
		},
	}
	files := map[string]string{}      // sha256 -> @id
	sealedIn := map[uint64][]string{} // an items.sealed event's index -> the @id of the files of its batch
	for _, it := range items {
		id := base + "file-" + it.SHA256[:16]
		files[it.SHA256] = id
		sealedIn[it.PreservedIndex] = append(sealedIn[it.PreservedIndex], id)
		graph = append(graph, jsonld{
			"@id": id, "@type": "uco-observable:File",
			"uco-core:hasFacet": []jsonld{
				{"@id": id + "-file", "@type": "uco-observable:FileFacet", "uco-observable:fileName": it.Path,
					"uco-observable:sizeInBytes": typed("xsd:integer", strconv.FormatInt(it.Size, 10))},
				{"@id": id + "-content", "@type": "uco-observable:ContentDataFacet",
					"uco-observable:sizeInBytes": typed("xsd:integer", strconv.FormatInt(it.Size, 10)),
					"uco-observable:hash": []jsonld{
						{"@id": id + "-sha256", "@type": "uco-types:Hash", "uco-types:hashMethod": typed("uco-vocabulary:HashNameVocab", "SHA256"),
							"uco-types:hashValue": typed("xsd:hexBinary", it.SHA256)},
						{"@id": id + "-sha512", "@type": "uco-types:Hash", "uco-types:hashMethod": typed("uco-vocabulary:HashNameVocab", "SHA512"),
							"uco-types:hashValue": typed("xsd:hexBinary", it.SHA512)},
					}},
			},
		})
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
			"uco-action:performer":   jsonld{"@id": base + "actor-" + safeSegment(c.actor), "@type": "uco-identity:Identity", "uco-core:name": c.actor},
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
			"uco-core:name":         "disclosure to " + o.Authority + " (" + o.RequestingState + ")",
			"uco-core:description":  "recipient key: " + recipient + "; checkpoint size " + strconv.FormatUint(in.Checkpoint.Size, 10),
			"uco-action:startTime":  stampJSONLD(in.Time),
			"uco-action:instrument": ref(base + "tool"),
			"uco-action:object":     append([]jsonld{ref(base + "authorization")}, all...),
			"uco-action:result":     []jsonld{ref(base + "provenance-disclosure")},
		},
		jsonld{"@id": base + "provenance-disclosure", "@type": "case-investigation:ProvenanceRecord",
			"case-investigation:exhibitNumber": o.ID, "uco-core:object": all},
	)
	return jsonMarshal(jsonld{"@context": caseContext, "@graph": graph})
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
