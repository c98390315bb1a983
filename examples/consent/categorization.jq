# ConsentChanged (the consent app's event) -> an EnableNow categorization
# request for the consent, when the customer granted transaction
# categorization. A withdrawal, or another purpose, asks for nothing.
.value as $consent
| select($consent.type == "ConsentChanged")
| select($consent.purpose == "transaction-categorization" and $consent.status == "granted")
| {consentId: $consent.consentId, engine: "e1", profile: "retail", countryCode: ($consent.country // "nl" | ascii_downcase)}
