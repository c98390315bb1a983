# CustomerUpdated (the CRM's change event, a CloudEvent in structured mode)
# -> the customer's UPS user attributes. Every attribute value is a list of
# strings.
.data as $c
| select(.ce.type == "com.example.crm.customer.updated")
# A deleted customer has nothing to enrich; an erasure has its own flow.
| select(($c.deleted // false) != true)
| {
    userId: $c.customerId,
    value: (
      {
        loyalty_tier: [$c.loyalty.tier],
        loyalty_points_band: [(if ($c.loyalty.points // 0) >= 10000 then "10k+" elif ($c.loyalty.points // 0) >= 1000 then "1k-10k" else "<1k" end)],
        preferred_store: [$c.preferredStore],
        interests: $c.interests,
        city: [$c.address.city],
        newsletter: [($c.consents.newsletter // false | tostring)]
      }
      # Attributes the CRM does not know are left out, not sent empty.
      | with_entries(select(.value | all(. != null)) | select(.value != []))
    )
  }
