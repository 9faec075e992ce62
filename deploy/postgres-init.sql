-- One database per service: no service reads another's tables.
CREATE DATABASE "order";
CREATE DATABASE payment;
CREATE DATABASE wallet;
CREATE DATABASE notify;
