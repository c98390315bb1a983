# OrderPlaced -> UPS segment updates of the buyer and, for a gift, of its
# recipient: one order in, one or two rr-segments records out.
(.data // .value) as $order
| select(.ce.type == "com.example.shop.order.placed" or $order.type == "OrderPlaced")
| select(($order.test // false) != true)
| select(.headers["x-test-traffic"] != "true")
| select(($order.customer.email // "") | endswith("@example.test") | not)

| ($order.totals.total) as $total
| (if $total >= 500 then "gold" elif $total >= 100 then "silver" else "bronze" end) as $band
| ([$order.lines[].category] | unique | join(",")) as $categories

| {
    userId: $order.customer.externalId,
    value: {
      recent_buyer: "true",
      order_value_band: $band,
      last_order_channel: $order.channel,
      last_order_categories: $categories
    }
  },
  # A gift: its recipient is a prospect for the same categories.
  ($order.giftRecipient.externalId // empty | {
    userId: .,
    value: {gift_recipient: "true", gift_categories: $categories}
  })
