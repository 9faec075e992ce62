"""The sandbox gateways: a card processor and PayPal, Alipay and WeChat Pay as they look from
the merchant's side, run as their own web application, worker and database. See app.py."""
