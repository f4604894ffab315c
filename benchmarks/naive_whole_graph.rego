# The naive way, for the benchmark only: one query per fixpoint round over the
# whole graph. Rego builds every entity's step input by scanning all links, then
# decides it with the shipped rule. Quadratic in rego-cpp; kept to measure it.
package naive

import data.ownership

decisions := [ownership.decide(_item(entity)) | some entity in input.entities]

_item(entity) := {
	"scale": input.scale,
	"entity": {"type": entity.type, "headquarters": entity.headquarters, "jurisdiction": entity.jurisdiction},
	"links": [link | some link in input.links; link.asset == entity.id; input.restricted[link.owner]],
}
