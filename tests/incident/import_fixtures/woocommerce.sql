-- WooCommerce on WordPress, the tables and columns the woocommerce presets read: WordPress core
-- (wp-admin/includes/schema.php: posts, postmeta, users, usermeta, options) and WooCommerce's
-- HPOS tables (OrdersTableDataStore: wc_orders, wc_order_addresses, wc_orders_meta). *_gmt and
-- user_registered hold UTC. {P} is the table prefix; {DT} {UBIGINT} {LONGTEXT} {ID} are filled
-- per database by the test.
CREATE TABLE {P}posts (
    {ID} {UBIGINT} NOT NULL,
    post_author {UBIGINT} DEFAULT 0 NOT NULL,
    post_date {DT} NOT NULL,
    post_date_gmt {DT} NOT NULL,
    post_status VARCHAR(20) DEFAULT 'publish' NOT NULL,
    post_modified {DT} NOT NULL,
    post_modified_gmt {DT} NOT NULL,
    post_parent {UBIGINT} DEFAULT 0 NOT NULL,
    post_type VARCHAR(20) DEFAULT 'post' NOT NULL,
    PRIMARY KEY ({ID})
);
CREATE INDEX {P}type_status_date ON {P}posts (post_type, post_status, post_date, {ID});
CREATE TABLE {P}postmeta (
    meta_id {UBIGINT} NOT NULL,
    post_id {UBIGINT} DEFAULT 0 NOT NULL,
    meta_key VARCHAR(255) DEFAULT NULL,
    meta_value {LONGTEXT},
    PRIMARY KEY (meta_id)
);
CREATE INDEX {P}postmeta_post_id ON {P}postmeta (post_id);
CREATE TABLE {P}users (
    {ID} {UBIGINT} NOT NULL,
    user_login VARCHAR(60) DEFAULT '' NOT NULL,
    user_email VARCHAR(100) DEFAULT '' NOT NULL,
    user_registered {DT} NOT NULL,
    display_name VARCHAR(250) DEFAULT '' NOT NULL,
    PRIMARY KEY ({ID})
);
CREATE TABLE {P}usermeta (
    umeta_id {UBIGINT} NOT NULL,
    user_id {UBIGINT} DEFAULT 0 NOT NULL,
    meta_key VARCHAR(255) DEFAULT NULL,
    meta_value {LONGTEXT},
    PRIMARY KEY (umeta_id)
);
CREATE TABLE {P}options (
    option_id {UBIGINT} NOT NULL,
    option_name VARCHAR(191) DEFAULT '' NOT NULL,
    option_value {LONGTEXT} NOT NULL,
    autoload VARCHAR(20) DEFAULT 'yes' NOT NULL,
    PRIMARY KEY (option_id)
);
CREATE TABLE {P}wc_orders (
    id {UBIGINT} NOT NULL,
    status VARCHAR(20) DEFAULT NULL,
    currency VARCHAR(10) DEFAULT NULL,
    type VARCHAR(20) DEFAULT NULL,
    tax_amount DECIMAL(26,8) DEFAULT NULL,
    total_amount DECIMAL(26,8) DEFAULT NULL,
    customer_id {UBIGINT} DEFAULT NULL,
    billing_email VARCHAR(320) DEFAULT NULL,
    date_created_gmt {DT} DEFAULT NULL,
    date_updated_gmt {DT} DEFAULT NULL,
    parent_order_id {UBIGINT} DEFAULT NULL,
    payment_method VARCHAR(100) DEFAULT NULL,
    payment_method_title {LONGTEXT} DEFAULT NULL,
    transaction_id VARCHAR(100) DEFAULT NULL,
    ip_address VARCHAR(100) DEFAULT NULL,
    user_agent {LONGTEXT} DEFAULT NULL,
    customer_note {LONGTEXT} DEFAULT NULL,
    PRIMARY KEY (id)
);
CREATE TABLE {P}wc_order_addresses (
    id {UBIGINT} NOT NULL,
    order_id {UBIGINT} NOT NULL,
    address_type VARCHAR(20) DEFAULT NULL,
    first_name {LONGTEXT} DEFAULT NULL,
    last_name {LONGTEXT} DEFAULT NULL,
    company {LONGTEXT} DEFAULT NULL,
    address_1 {LONGTEXT} DEFAULT NULL,
    address_2 {LONGTEXT} DEFAULT NULL,
    city {LONGTEXT} DEFAULT NULL,
    state {LONGTEXT} DEFAULT NULL,
    postcode {LONGTEXT} DEFAULT NULL,
    country {LONGTEXT} DEFAULT NULL,
    email VARCHAR(320) DEFAULT NULL,
    phone VARCHAR(100) DEFAULT NULL,
    PRIMARY KEY (id)
);
CREATE TABLE {P}wc_orders_meta (
    id {UBIGINT} NOT NULL,
    order_id {UBIGINT} DEFAULT NULL,
    meta_key VARCHAR(255) DEFAULT NULL,
    meta_value {LONGTEXT} DEFAULT NULL,
    PRIMARY KEY (id)
);
