package regions_test

import data.regions

# Fixture lists: the tests pin the mechanism, not the live lists.
_lists := {"restricted": ["XA", "XB-01"], "review": ["XC", "XB-02"]}

test_a_listed_country_is_restricted if {
	regions.in_restricted_region("XA", null) with data.regions as _lists
	regions.in_restricted_region("XA", "XA-07") with data.regions as _lists
}

test_a_listed_subdivision_is_restricted_not_its_whole_country if {
	regions.in_restricted_region("XB", "XB-01") with data.regions as _lists
	not regions.in_restricted_region("XB", "XB-03") with data.regions as _lists
	not regions.in_restricted_region("XB", null) with data.regions as _lists
}

test_a_review_country_or_subdivision_leads_to_review if {
	regions.in_review_region("XC", null) with data.regions as _lists
	regions.in_review_region("XB", "XB-02") with data.regions as _lists
}

test_an_unlisted_place_is_neither if {
	not regions.in_restricted_region("XD", null) with data.regions as _lists
	not regions.in_review_region("XD", null) with data.regions as _lists
	not regions.in_review_region(null, null) with data.regions as _lists
	not regions.in_review_region("XB", "XB-03") with data.regions as _lists
}

test_a_country_with_listed_subdivisions_and_no_subdivision_given_is_review if {
	regions.in_review_region("XB", null) with data.regions as _lists
}

test_restricted_wins_over_review if {
	not regions.in_review_region("XA", null) with data.regions as {"restricted": ["XA"], "review": ["XA"]}
}

test_review_codes_say_whether_the_subdivision_was_missing if {
	regions.review_code("XB", null) == "SUBDIVISION_UNKNOWN" with data.regions as _lists
	regions.review_code("XC", null) == "REVIEW_REGION" with data.regions as _lists
	regions.review_code("XB", "XB-02") == "REVIEW_REGION" with data.regions as _lists
}
