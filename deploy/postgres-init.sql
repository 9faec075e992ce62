-- One database per service: no service reads another's tables.
CREATE DATABASE "order";
CREATE DATABASE payment;
CREATE DATABASE wallet;
CREATE DATABASE notify;
-- The sandbox gateways' books: the provider's side, never read by our services.
CREATE DATABASE sandbox;
