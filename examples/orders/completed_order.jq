# OrderPlaced (the shop's domain event) -> a Contacthub completedOrder event.
#
# The shop publishes OrderPlaced as a CloudEvent in binary mode (ce_type
# com.example.shop.order.placed) or as a bare JSON value; .data is the
# event's data for the first, .value for both.
(.data // .value) as $order

# Only orders: other events on the topic are not for this sink.
| select(.ce.type == "com.example.shop.order.placed" or $order.type == "OrderPlaced")

# Test traffic never reaches Contacthub: test orders, the load-test
# header, and the test shop's customers.
| select(($order.test // false) != true)
| select(.headers["x-test-traffic"] != "true")
| select(($order.customer.email // "") | endswith("@example.test") | not)

| if ($order.customer.externalId // "") == "" then error("order \($order.orderId): no customer.externalId to bring the event back to a customer") else . end

| {
    type: "completedOrder",
    context: (if $order.channel == "store" then "RETAIL" else "ECOMMERCE" end),
    # The shop knows its customers by its own id: Contacthub attaches the
    # event to the customer with that external id in the shop's node.
    bringBackProperties: {
      type: "EXTERNAL_ID",
      value: $order.customer.externalId,
      nodeId: "959356e3-6168-4a92-b4a5-b9d462be6177"
    },
    date: $order.placedAt,
    properties: {
      orderId: $order.orderId,
      storeCode: $order.storeCode,
      paymentMethod: $order.paymentMethod,
      type: "sale",
      amount: {
        local: {currency: $order.currency, exchangeRate: 1},
        total: $order.totals.total,
        revenue: $order.totals.revenue,
        shipping: $order.totals.shipping,
        tax: $order.totals.tax,
        discount: ($order.totals.discount // 0)
      },
      products: [
        $order.lines[] | {
          type: "sale",
          sku,
          name,
          category: [.category],
          price: .unitPrice,
          quantity,
          subtotal: (.unitPrice * .quantity)
        }
      ]
    }
  }
