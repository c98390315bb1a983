# ProductViewed (the web shop's tracking event) -> a Contacthub viewedProduct
# event: of the known customer when the visitor is logged in, else of the
# browser session, which Contacthub brings back to the customer at login.
.value as $view
| select($view.type == "ProductViewed")

# Crawlers and synthetic monitoring are not customers.
| select(($view.userAgent // "") | test("bot|crawler|spider|pingdom|synthetic"; "i") | not)

| {
    type: "viewedProduct",
    context: "WEB",
    date: $view.viewedAt,
    properties: {
      sku: $view.product.sku,
      name: $view.product.name,
      price: $view.product.price,
      currency: $view.product.currency,
      category: [$view.product.category],
      url: $view.page.url
    },
    contextInfo: {
      client: {userAgent: $view.userAgent},
      page: {url: $view.page.url, referrer: $view.page.referrer}
    }
  }
| if ($view.customerId // null) != null
  then .customerId = $view.customerId
  else .bringBackProperties = {type: "SESSION_ID", value: $view.sessionId, nodeId: "959356e3-6168-4a92-b4a5-b9d462be6177"}
  end
# Campaign parameters of the landing URL, when there are any.
| if ($view.utm // {}) != {}
  then .tracking = {ga: ($view.utm | with_entries(.key |= "utm_" + .))}
  else .
  end
