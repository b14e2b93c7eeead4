package web

import (
	"github.com/gofiber/fiber/v2"
)

// playgroundPage is what the playground page shows besides the form's values.
type playgroundPage struct {
	Groups    []playOpGroup
	Auths     []playAuth
	Demo      playDemo   // the demo secrets to prefill (empty when DEMO_DATA is off)
	BodyOp    string     // the route that reads the JSON body, for the hint
	Exchanges []exchange // newest first
}

// playDemo is the password and key the form is prefilled with.
type playDemo struct{ Password, APIKey string }

// playgroundForm is where the playground's input errors are shown: in the form.
func (s *server) playgroundForm() *form {
	return &form{id: "playground-form", view: view{page: pagePlayground, fragment: fragPlaygroundForm},
		title: "Playground", nav: "playground", fields: []string{"op", "auth", "username", "key_in", "body"},
		page:           func(c *fiber.Ctx) (any, error) { return s.playgroundPage(s.playground.ops[c.FormValue("op")]), nil },
		pageInFragment: true}
}

// playgroundPage fills the page for op (the first route when op is zero). Secrets
// are never sent back as typed; with DEMO_DATA the demo ones are filled in again.
func (s *server) playgroundPage(op playOp) playgroundPage {
	if op.ID == "" {
		op = s.playground.first
	}
	p := playgroundPage{Groups: s.playground.groups, Auths: playAuths, BodyOp: s.playground.bodyOp}
	if s.cfg.DemoData {
		d := op.Prefill
		p.Demo = playDemo{Password: d.Password, APIKey: d.APIKey}
	}
	return p
}

// playgroundValues are the form's starting values for op.
func (s *server) playgroundValues(op playOp, auth string) map[string]string {
	v := map[string]string{"op": op.ID, "auth": auth, "key_in": keyInBearer, "body": s.playground.body}
	if v["auth"] == "" {
		v["auth"] = op.DefaultAuth
	}
	if s.cfg.DemoData {
		v["username"] = op.Prefill.Username
	}
	return v
}

// GET /playground: the form, with ?op=<operationId> chosen (the docs' "try it").
func (s *server) handlePlayground(c *fiber.Ctx) error {
	op, ok := s.playground.ops[c.Query("op")]
	if !ok {
		op = s.playground.first
	}
	auth := c.Query("auth")
	if !validAuth(auth) {
		auth = ""
	}
	data := s.viewData(c, "Playground", "playground")
	data.Form.Values = s.playgroundValues(op, auth)
	data.Page = s.playgroundPage(op)
	return s.render(c, fiber.StatusOK, view{page: pagePlayground}, data)
}

// POST /playground/send: make the call through the app and show the exchange;
// htmx gets it as a fragment to put above the earlier ones, a plain form post the
// page with the form and this one exchange. The outer answer is 200 whatever the
// inner status: the call was made, and its 401 or 429 is the thing to see.
func (s *server) handlePlaygroundSend(c *fiber.Ctx) error {
	in, err := s.playground.bind(c)
	if err != nil {
		return err
	}
	ex := s.try(c, in)
	data := s.viewData(c, "Playground", "playground")
	data.Form.Values = map[string]string{"op": in.Op.ID, "auth": in.Auth, "username": in.Username, "key_in": in.KeyIn, "body": in.Body}
	page := s.playgroundPage(in.Op)
	page.Exchanges = []exchange{ex}
	data.Page = page
	return s.render(c, fiber.StatusOK, view{page: pagePlayground, fragment: fragExchanges}, data)
}
