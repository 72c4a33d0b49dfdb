// Starts Swagger UI on this server's OpenAPI document (a file, not inline, so the page needs no inline script).
window.ui = SwaggerUIBundle({
  // From the origin: a page opened as http://user:password@host/ would resolve a relative URL with the
  // credentials in it, which fetch() refuses; the browser sends the login it keeps for this origin.
  url: window.location.origin + "/api/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // No request to swagger.io's online validator: the document stays on this server.
  validatorUrl: null,
  tryItOutEnabled: false,
});
