package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"

	"github.com/stipend/stipend/api/wire"
)

// buildOpenAPI describes the route table as an OpenAPI 3 document, with schemas generated
// from the wire types, so that the document cannot drift from the routes the server serves.
// The tests check the other half: that real responses match the schemas.
func (s *Server) buildOpenAPI() (*openapi3.T, []byte, error) {
	doc := &openapi3.T{
		OpenAPI: "3.0.3",
		Info: &openapi3.Info{
			Title:   "Stipend",
			Version: s.opts.Version,
			Description: "Pays people for small pieces of open-source work and for expert answers. " +
				"Amounts are integers in the asset's minor unit: msat for BTC, cents for USD and EUR. " +
				"Errors are RFC 9457 problem JSON with a stable code.",
		},
		Paths: openapi3.NewPaths(),
		Components: &openapi3.Components{
			Schemas: openapi3.Schemas{},
			SecuritySchemes: openapi3.SecuritySchemes{
				"bearer": &openapi3.SecuritySchemeRef{Value: openapi3.NewSecurityScheme().WithType("http").WithScheme("bearer")},
			},
		},
	}
	gen := openapi3gen.NewGenerator(openapi3gen.SchemaCustomizer(strictObjects))
	var genErr error
	ref := func(v any) *openapi3.SchemaRef {
		name := reflect.TypeOf(v).Name()
		if _, ok := doc.Components.Schemas[name]; !ok {
			sr, err := gen.NewSchemaRefForValue(v, nil)
			if err != nil {
				genErr = fmt.Errorf("schema of %s: %w", name, err)
				return nil
			}
			doc.Components.Schemas[name] = sr
		}
		return openapi3.NewSchemaRef("#/components/schemas/"+name, doc.Components.Schemas[name].Value)
	}
	problem := ref(wire.Problem{})
	for _, r := range s.routes() {
		op := openapi3.NewOperation()
		op.OperationID, op.Summary, op.Tags = r.Name, r.Summary, []string{r.Tag}
		for _, seg := range strings.Split(r.Path, "/") {
			if strings.HasPrefix(seg, "{") {
				op.AddParameter(openapi3.NewPathParameter(strings.Trim(seg, "{}")).WithSchema(openapi3.NewStringSchema()))
			}
		}
		for _, q := range r.Query {
			schema := openapi3.NewStringSchema()
			if q.Name == "limit" {
				schema = openapi3.NewIntegerSchema().WithMin(1).WithMax(500)
			}
			op.AddParameter(openapi3.NewQueryParameter(q.Name).WithDescription(q.Description).WithSchema(schema))
		}
		if r.MovesMoney {
			op.AddParameter(openapi3.NewHeaderParameter(HeaderIdempotencyKey).WithRequired(true).
				WithDescription("Makes the request safe to retry: the same key and request return the first response; the same key with another request is refused (409).").
				WithSchema(openapi3.NewStringSchema().WithMinLength(1).WithMaxLength(255)))
		}
		if r.Auth {
			desc := "any API key"
			if r.Scope != "" {
				desc = "an API key with the " + r.Scope + " scope"
			}
			op.Security = &openapi3.SecurityRequirements{{"bearer": []string{}}}
			op.Description = "Requires " + desc + "."
		}
		switch {
		case r.Request != nil:
			op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithJSONSchemaRef(ref(r.Request))}
		case len(r.RawRequest) > 0:
			op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).
				WithContent(openapi3.NewContentWithSchema(openapi3.NewStringSchema(), r.RawRequest))}
		}
		ok := openapi3.NewResponse().WithDescription(http.StatusText(r.Status))
		switch {
		case r.Response != nil:
			ok = ok.WithJSONSchemaRef(ref(r.Response))
		case r.Raw == "application/json":
			ok = ok.WithContent(openapi3.NewContentWithSchema(openapi3.NewObjectSchema(), []string{r.Raw}))
		case r.Raw != "":
			ok = ok.WithContent(openapi3.NewContentWithSchema(openapi3.NewStringSchema(), []string{r.Raw}))
		}
		op.AddResponse(r.Status, ok)
		if r.Raw == "text/html" {
			// A page for a browser says what went wrong on a page too.
			op.Responses.Set("default", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("An error, as a page.").
				WithContent(openapi3.NewContentWithSchema(openapi3.NewStringSchema(), []string{r.Raw}))})
		} else {
			op.Responses.Set("default", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("An error, as problem JSON.").
				WithContent(openapi3.NewContentWithSchemaRef(problem, []string{"application/problem+json"}))})
		}
		if r.Priced != nil {
			op.Security = &openapi3.SecurityRequirements{{"bearer": []string{}}, {}}
			op.Description = "Priced per call. Without a credential the answer is 402 with WWW-Authenticate challenges (LSAT, L402, Payment, Bearer) and this body; " +
				"retry with Authorization: L402 <macaroon>:<preimage>, Payment <credential> or Bearer <API key with the transfers:write scope>. " +
				"A paid success carries a Payment-Receipt header."
			op.AddResponse(http.StatusPaymentRequired, openapi3.NewResponse().WithDescription("Payment Required").
				WithContent(openapi3.NewContentWithSchemaRef(ref(wire.PaymentRequired{}), []string{"application/problem+json"})))
		}
		for _, m := range r.methods() {
			if len(r.Methods) > 0 {
				opm := *op
				opm.OperationID = r.Name + strings.ToUpper(m[:1]) + strings.ToLower(m[1:])
				doc.AddOperation(r.Path, m, &opm)
				continue
			}
			doc.AddOperation(r.Path, m, op)
		}
	}
	if genErr != nil {
		return nil, nil, genErr
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, nil, fmt.Errorf("the OpenAPI document is invalid: %w", err)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	return doc, b, err
}

// strictObjects marks the fields without omitempty or omitzero as required and closes every
// object to undeclared properties, as the API's JSON decoding is closed to unknown fields.
func strictObjects(name string, t reflect.Type, tag reflect.StructTag, schema *openapi3.Schema) error {
	if t.Kind() != reflect.Struct || schema.Type == nil || !schema.Type.Is(openapi3.TypeObject) {
		return nil
	}
	if t.PkgPath() != reflect.TypeOf(wire.Problem{}).PkgPath() {
		return nil // time.Time and other library types keep their own schemas
	}
	schema.Required = requiredFields(t, schema.Required)
	no := false
	schema.AdditionalProperties = openapi3.AdditionalProperties{Has: &no}
	return nil
}

func requiredFields(t reflect.Type, out []string) []string {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = requiredFields(f.Type, out)
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		// omitzero leaves a field out as omitempty does (the 402's expires_at when there is no
		// invoice), so it is not required either.
		if name == "" || name == "-" || strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero") {
			continue
		}
		out = append(out, name)
	}
	return out
}
