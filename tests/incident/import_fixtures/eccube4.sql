-- EC-CUBE 4 (4.1+), the tables and columns the eccube4 preset reads, from the Doctrine entities
-- Eccube\Entity\Order, Customer, Payment, Master\Pref. Every datetimetz column goes through
-- Eccube\Doctrine\DBAL\Types\UTCDateTimeTzType: DATETIME holding UTC on MySQL,
-- TIMESTAMP(0) WITH TIME ZONE on PostgreSQL, text with +0000 on SQLite.
-- {DTZ} {UINT} {BOOL} are filled per database by the test.
CREATE TABLE mtb_pref (
    id SMALLINT NOT NULL,
    name VARCHAR(255) NOT NULL,
    sort_no SMALLINT NOT NULL,
    discriminator_type VARCHAR(255) NOT NULL,
    PRIMARY KEY (id)
);
CREATE TABLE dtb_payment (
    id {UINT} NOT NULL,
    payment_method VARCHAR(255) DEFAULT NULL,
    charge DECIMAL(12,2) DEFAULT 0,
    sort_no SMALLINT DEFAULT NULL,
    fixed {BOOL} DEFAULT NULL,
    method_class VARCHAR(255) DEFAULT NULL,
    visible {BOOL} NOT NULL,
    create_date {DTZ} NOT NULL,
    update_date {DTZ} NOT NULL,
    discriminator_type VARCHAR(255) NOT NULL,
    PRIMARY KEY (id)
);
CREATE TABLE dtb_customer (
    id {UINT} NOT NULL,
    customer_status_id SMALLINT DEFAULT NULL,
    pref_id SMALLINT DEFAULT NULL,
    name01 VARCHAR(255) NOT NULL,
    name02 VARCHAR(255) NOT NULL,
    kana01 VARCHAR(255) DEFAULT NULL,
    kana02 VARCHAR(255) DEFAULT NULL,
    postal_code VARCHAR(8) DEFAULT NULL,
    addr01 VARCHAR(255) DEFAULT NULL,
    addr02 VARCHAR(255) DEFAULT NULL,
    email VARCHAR(255) NOT NULL,
    phone_number VARCHAR(14) DEFAULT NULL,
    password VARCHAR(255) NOT NULL,
    secret_key VARCHAR(255) NOT NULL,
    point DECIMAL(12,0) DEFAULT 0 NOT NULL,
    create_date {DTZ} NOT NULL,
    update_date {DTZ} NOT NULL,
    discriminator_type VARCHAR(255) NOT NULL,
    PRIMARY KEY (id)
);
CREATE TABLE dtb_order (
    id {UINT} NOT NULL,
    customer_id {UINT} DEFAULT NULL,
    pref_id SMALLINT DEFAULT NULL,
    payment_id {UINT} DEFAULT NULL,
    pre_order_id VARCHAR(255) DEFAULT NULL,
    order_no VARCHAR(255) DEFAULT NULL,
    name01 VARCHAR(255) NOT NULL,
    name02 VARCHAR(255) NOT NULL,
    email VARCHAR(255) DEFAULT NULL,
    phone_number VARCHAR(14) DEFAULT NULL,
    postal_code VARCHAR(8) DEFAULT NULL,
    addr01 VARCHAR(255) DEFAULT NULL,
    addr02 VARCHAR(255) DEFAULT NULL,
    payment_total DECIMAL(12,2) DEFAULT 0 NOT NULL,
    payment_method VARCHAR(255) DEFAULT NULL,
    create_date {DTZ} NOT NULL,
    update_date {DTZ} NOT NULL,
    order_date {DTZ} DEFAULT NULL,
    payment_date {DTZ} DEFAULT NULL,
    order_status_id SMALLINT DEFAULT NULL,
    discriminator_type VARCHAR(255) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (pre_order_id)
);
CREATE INDEX dtb_order_order_date_idx ON dtb_order (order_date);
CREATE INDEX dtb_order_update_date_idx ON dtb_order (update_date);
