# METADATA
# title: Restricted and review regions
# description: >-
#   The one list of restricted regions and of regions that lead to review,
#   read by both the ownership rules and the access rules (data.regions). A
#   region is a country (ISO 3166-1 alpha-2) or a subdivision (ISO 3166-2,
#   such as UA-43 for Crimea). A place is a country, possibly unknown (null),
#   and a subdivision, possibly not given (null).
# related_resources:
#   - description: Terms of Service, sections 3.2 and 3.3 (restricted regions)
#     ref: https://example.com/terms-of-service#section-3-2
# custom:
#   rule_id: TOS-REG
#   version: 1.0.0
#   effective_date: "2026-12-01"
package regions

# METADATA
# title: Place in a restricted region
# description: >-
#   A place is in a restricted region when its country or its subdivision is
#   listed as restricted.
# custom:
#   rule_id: TOS-REG-1
in_restricted_region(country, _) if country in data.regions.restricted

in_restricted_region(_, subdivision) if subdivision in data.regions.restricted

# METADATA
# title: Place in a review region
# description: >-
#   A place not in a restricted region leads to review when its country or
#   subdivision is listed for review, or when its subdivision is needed but
#   not given (TOS-REG-3).
# custom:
#   rule_id: TOS-REG-2
in_review_region(country, subdivision) if {
	not in_restricted_region(country, subdivision)
	_review_listed(country, subdivision)
}

in_review_region(country, subdivision) if {
	not in_restricted_region(country, subdivision)
	subdivision_unknown(country, subdivision)
}

# METADATA
# title: Subdivision needed but not given
# description: >-
#   Some subdivisions of the place's country are listed (restricted or
#   review), the country itself is listed in neither list, and the facts give
#   no subdivision: the place may be in a listed subdivision.
# custom:
#   rule_id: TOS-REG-3
subdivision_unknown(country, null) if {
	is_string(country)
	not country in data.regions.restricted
	not country in data.regions.review
	some code in array.concat(data.regions.restricted, data.regions.review)
	startswith(code, concat("", [country, "-"]))
}

_review_listed(country, _) if country in data.regions.review

_review_listed(_, subdivision) if subdivision in data.regions.review

# The reason code for a place in a review region.
review_code(country, subdivision) := "SUBDIVISION_UNKNOWN" if {
	subdivision_unknown(country, subdivision)
} else := "REVIEW_REGION"
