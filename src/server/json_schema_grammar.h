// JSON schema -> GBNF grammar (sampling/grammar.h), for structured outputs:
// every text the grammar admits is one JSON value that validates against
// the schema.
//
// Supported keywords: type (a name or an array of names), properties,
// required, additionalProperties, items, enum, const, minLength /
// maxLength, minimum / maximum, minItems / maxItems, anyOf, allOf with one
// schema (as Pydantic wraps a reference), $ref ("#",
// "#/$defs/<name>", "#/definitions/<name>") with $defs / definitions.
// Annotations are accepted and ignored: title, description, default,
// examples, format, $schema, $id, $comment, strict. Any other keyword is
// InvalidArgument naming it and where it is (e.g. "unsupported JSON schema
// keyword 'pattern' at /properties/name").
//
// What the grammar emits (a subset of what the schema allows, always valid):
// compact JSON (at most one space after ':' and ','); an object's required
// properties first, then the optional ones, each group in key order (the
// request body's parser sorts keys), optional ones maybe; no properties outside `properties`
// unless the object lists none (then additionalProperties, true or a
// schema, gives its keys' values); integers within 15 digits, exponents
// within 2; numbers with `minimum` / `maximum` need integer bounds (a
// fractional bound is InvalidArgument) and have no exponent; strings
// without \u escapes of surrogates (so lengths count characters).
//
// Thread safety: stateless functions.
#pragma once

#include <string>

#include "base/status.h"
#include "server/http_util.h"

namespace chunkserve::server {

StatusOr<std::string> JsonSchemaToGbnf(const Json& schema);

// For grammars that embed schemas: the rule `name ::= ...` for `schema` and
// its helper rules (named `name-...`), without the shared primitives
// (JsonPrimitivesGbnf(): ws, string, number, value, object, ...).
StatusOr<std::string> JsonSchemaRules(const Json& schema, const std::string& name);
std::string JsonPrimitivesGbnf();

// Any JSON object (response_format {"type": "json_object"}).
std::string JsonObjectGbnf();

}  // namespace chunkserve::server
