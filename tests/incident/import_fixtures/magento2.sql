-- Magento 2 / Adobe Commerce, the tables and columns the magento2 preset reads, from the
-- db_schema.xml of Magento_Sales, Magento_Quote and Magento_Customer. Magento's timestamp
-- columns hold UTC. {TS} {UINT} {TEXT} are filled per database by the test.
CREATE TABLE sales_order (
    entity_id {UINT} NOT NULL,
    state VARCHAR(32) DEFAULT NULL,
    status VARCHAR(32) DEFAULT NULL,
    increment_id VARCHAR(32) DEFAULT NULL,
    customer_id {UINT} DEFAULT NULL,
    customer_is_guest SMALLINT DEFAULT 0,
    customer_email VARCHAR(128) DEFAULT NULL,
    customer_firstname VARCHAR(128) DEFAULT NULL,
    customer_lastname VARCHAR(128) DEFAULT NULL,
    remote_ip VARCHAR(45) DEFAULT NULL,
    created_at {TS},
    updated_at {TS},
    PRIMARY KEY (entity_id)
);
CREATE INDEX sales_order_created_at ON sales_order (created_at);
CREATE TABLE sales_order_payment (
    entity_id {UINT} NOT NULL,
    parent_id {UINT} NOT NULL,
    method VARCHAR(128) DEFAULT NULL,
    cc_type VARCHAR(32) DEFAULT NULL,
    cc_last_4 VARCHAR(100) DEFAULT NULL,
    cc_exp_month VARCHAR(12) DEFAULT NULL,
    cc_exp_year VARCHAR(4) DEFAULT NULL,
    additional_information {TEXT},
    PRIMARY KEY (entity_id)
);
CREATE TABLE sales_order_address (
    entity_id {UINT} NOT NULL,
    parent_id {UINT} DEFAULT NULL,
    customer_id {UINT} DEFAULT NULL,
    region VARCHAR(255) DEFAULT NULL,
    postcode VARCHAR(255) DEFAULT NULL,
    lastname VARCHAR(255) DEFAULT NULL,
    street VARCHAR(255) DEFAULT NULL,
    city VARCHAR(255) DEFAULT NULL,
    email VARCHAR(255) DEFAULT NULL,
    telephone VARCHAR(255) DEFAULT NULL,
    country_id VARCHAR(2) DEFAULT NULL,
    firstname VARCHAR(255) DEFAULT NULL,
    address_type VARCHAR(255) DEFAULT NULL,
    PRIMARY KEY (entity_id)
);
CREATE TABLE quote (
    entity_id {UINT} NOT NULL,
    store_id SMALLINT DEFAULT 0 NOT NULL,
    created_at {TS},
    updated_at {TS},
    is_active SMALLINT DEFAULT 1,
    customer_id {UINT} DEFAULT NULL,
    customer_email VARCHAR(255) DEFAULT NULL,
    customer_firstname VARCHAR(255) DEFAULT NULL,
    customer_lastname VARCHAR(255) DEFAULT NULL,
    customer_is_guest SMALLINT DEFAULT 0,
    remote_ip VARCHAR(45) DEFAULT NULL,
    reserved_order_id VARCHAR(64) DEFAULT NULL,
    PRIMARY KEY (entity_id)
);
CREATE TABLE customer_entity (
    entity_id {UINT} NOT NULL,
    website_id SMALLINT DEFAULT NULL,
    email VARCHAR(255) DEFAULT NULL,
    created_at {TS},
    updated_at {TS},
    firstname VARCHAR(255) DEFAULT NULL,
    lastname VARCHAR(255) DEFAULT NULL,
    default_billing {UINT} DEFAULT NULL,
    PRIMARY KEY (entity_id)
);
CREATE TABLE customer_address_entity (
    entity_id {UINT} NOT NULL,
    parent_id {UINT} DEFAULT NULL,
    city VARCHAR(255) NOT NULL,
    firstname VARCHAR(255) NOT NULL,
    lastname VARCHAR(255) NOT NULL,
    postcode VARCHAR(255) DEFAULT NULL,
    region VARCHAR(255) DEFAULT NULL,
    street {TEXT} NOT NULL,
    telephone VARCHAR(255) NOT NULL,
    PRIMARY KEY (entity_id)
);
