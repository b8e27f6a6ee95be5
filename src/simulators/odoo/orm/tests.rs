use super::*;

fn object(value: Value) -> Map<String, Value> {
    value.as_object().expect("object").clone()
}

/// Two tags, a company with two contacts (one archived) and an order.
fn registry() -> Registry {
    let mut registry = Registry::new(2, "api@example.com", "en_US", "Asia/Shanghai");
    for record in [
        json!({"id": 3, "name": "VIP", "active": true}),
        json!({"id": 5, "name": "Wholesale", "active": true}),
    ] {
        registry
            .load("res.partner.category", object(record))
            .unwrap();
    }
    for record in [
        json!({"id": 7, "name": "北京某某科技有限公司", "is_company": true, "parent_id": false,
               "email": "info@mm.cn", "phone": false, "category_id": [5], "active": true,
               "write_date": "2024-05-01 08:00:00"}),
        json!({"id": 42, "name": "张三", "is_company": false, "parent_id": [7, "北京某某科技有限公司"],
               "email": "zhang@mm.cn", "phone": "+86 138 0013 8000", "category_id": [3, 5],
               "active": true, "write_date": "2024-05-03 02:11:12"}),
        json!({"id": 43, "name": "Li Si", "is_company": false, "parent_id": false,
               "email": false, "phone": "010-8888", "category_id": [], "active": false,
               "write_date": "2024-05-02 00:00:00"}),
    ] {
        registry.load("res.partner", object(record)).unwrap();
    }
    registry
        .load(
            "sale.order",
            object(json!({"id": 1, "name": "S00001", "partner_id": [42, "x"],
                          "date_order": "2024-05-03 01:00:00", "amount_total": 99.5,
                          "state": "sale", "write_date": "2024-05-03 01:00:00"})),
        )
        .unwrap();
    registry
}

fn search(registry: &Registry, domain: Value) -> Vec<i64> {
    registry
        .search("res.partner", &domain, 0, None, Some("id"), true)
        .unwrap_or_else(|error| panic!("{domain}: {error:?}"))
}

#[test]
fn domain_operators_match_as_odoo_does() {
    let registry = registry();
    let cases = [
        (json!([["email", "=", "zhang@mm.cn"]]), vec![42]),
        (json!([["email", "=", false]]), vec![]),
        (json!([["phone", "=", false]]), vec![7]),
        (json!([["phone", "!=", false]]), vec![42]),
        (json!([["email", "!=", "zhang@mm.cn"]]), vec![7]),
        (json!([["id", ">", 7]]), vec![42]),
        (json!([["id", ">=", 7]]), vec![7, 42]),
        (json!([["id", "<", 42]]), vec![7]),
        (json!([["id", "<=", 42]]), vec![7, 42]),
        (json!([["id", "in", [7, 99]]]), vec![7]),
        (json!([["id", "not in", [7]]]), vec![42]),
        (json!([["email", "like", "mm.cn"]]), vec![7, 42]),
        (json!([["email", "like", "MM.CN"]]), vec![]),
        (json!([["email", "ilike", "MM.CN"]]), vec![7, 42]),
        (json!([["email", "=like", "zhang%"]]), vec![42]),
        (json!([["email", "=ilike", "ZHANG@MM.CN"]]), vec![42]),
        (json!([["email", "not ilike", "zhang"]]), vec![7]),
        (json!(["|", ["id", "=", 7], ["id", "=", 42]]), vec![7, 42]),
        (
            json!(["&", ["id", ">", 1], ["is_company", "=", true]]),
            vec![7],
        ),
        (json!(["!", ["is_company", "=", true]]), vec![42]),
        (
            json!([["id", ">", 1], ["is_company", "=", false]]),
            vec![42],
        ),
        (json!([["write_date", ">=", "2024-05-03"]]), vec![42]),
        (
            json!([["write_date", ">", "2024-05-01 08:00:00"]]),
            vec![42],
        ),
        (json!([["category_id", "in", [3]]]), vec![42]),
        (json!([["category_id", "=", 5]]), vec![7, 42]),
        (json!([["category_id", "not in", [3]]]), vec![7]),
        (json!([["category_id", "ilike", "vip"]]), vec![42]),
        (json!([["parent_id", "=", 7]]), vec![42]),
        (json!([["parent_id", "=", false]]), vec![7]),
        (json!([["parent_id", "ilike", "某某"]]), vec![42]),
        (json!([["parent_id.email", "=", "info@mm.cn"]]), vec![42]),
        (json!([["id", "child_of", [7]]]), vec![7, 42]),
        (json!([["commercial_partner_id", "=", 7]]), vec![7, 42]),
        (json!([["email", "=?", false]]), vec![7, 42]),
        (json!([[1, "=", 1]]), vec![7, 42]),
        (json!([[0, "=", 1]]), vec![]),
    ];
    for (domain, expected) in cases {
        assert_eq!(search(&registry, domain.clone()), expected, "{domain}");
    }
}

#[test]
fn archived_records_need_the_domain_or_context_to_ask_for_them() {
    let registry = registry();
    assert_eq!(search(&registry, json!([])), vec![7, 42]);
    assert_eq!(
        search(&registry, json!([["active", "in", [true, false]]])),
        vec![7, 42, 43]
    );
    let all = registry
        .search("res.partner", &json!([]), 0, None, None, false)
        .unwrap();
    assert_eq!(all.len(), 3);
    // sale.order has no active field: nothing is filtered.
    let orders = registry
        .search("sale.order", &json!([]), 0, None, None, true)
        .unwrap();
    assert_eq!(orders, vec![1]);
}

#[test]
fn bad_domains_fields_and_orders_raise_the_real_errors() {
    let registry = registry();
    let error = |domain: Value, order: Option<&str>| {
        registry
            .search("res.partner", &domain, 0, None, order, true)
            .unwrap_err()
    };
    let unknown = error(json!([["nope", "=", 1]]), None);
    assert_eq!(unknown.name, "builtins.ValueError");
    assert_eq!(
        unknown.message,
        "Invalid field res.partner.nope in leaf ('nope', '=', 1)"
    );
    assert!(error(json!([["id", "~", 1]]), None)
        .message
        .starts_with("Invalid leaf ('id', '~', 1)"));
    assert!(error(json!(["&", ["id", "=", 1]]), None)
        .message
        .starts_with("Invalid domain"));
    assert!(error(json!([["id", "in", 7]]), None)
        .message
        .contains("must be a list"));
    let order = error(json!([]), Some("write_date sideways"));
    assert!(order.message.starts_with("Invalid \"order\" specified"));
    let order_field = error(json!([]), Some("nope asc"));
    assert_eq!(
        order_field.message,
        "Invalid field 'nope' on model 'res.partner'"
    );
    let model = registry
        .search("res.nothing", &json!([]), 0, None, None, true)
        .unwrap_err();
    assert_eq!(model.name, "odoo.exceptions.UserError");
}

#[test]
fn order_offset_and_limit_page_through_the_results() {
    let registry = registry();
    let order = Some("write_date asc, id asc");
    let page = |offset, limit| {
        registry
            .search("res.partner", &json!([]), offset, Some(limit), order, false)
            .unwrap()
    };
    assert_eq!(page(0, 2), vec![7, 43]);
    assert_eq!(page(2, 2), vec![42]);
    let descending = registry
        .search(
            "res.partner",
            &json!([]),
            0,
            None,
            Some("write_date desc"),
            false,
        )
        .unwrap();
    assert_eq!(descending, vec![42, 43, 7]);
    // The default _order of res.partner is complete_name ASC, id DESC.
    let default = registry
        .search("res.partner", &json!([]), 0, None, None, false)
        .unwrap();
    assert_eq!(default, vec![43, 7, 42]);
}

#[test]
fn read_renders_values_as_odoo_returns_them() {
    let registry = registry();
    let rows = registry
        .read(
            "res.partner",
            &[42, 7],
            &[
                "parent_id".into(),
                "category_id".into(),
                "phone".into(),
                "display_name".into(),
            ],
            true,
        )
        .unwrap();
    assert_eq!(
        rows[0],
        json!({"id": 42, "parent_id": [7, "北京某某科技有限公司"], "category_id": [3, 5],
               "phone": "+86 138 0013 8000", "display_name": "北京某某科技有限公司, 张三"})
    );
    assert_eq!(rows[1]["parent_id"], json!(false));
    assert_eq!(rows[1]["phone"], json!(false));
    let plain = registry
        .read("sale.order", &[1], &["partner_id".into()], false)
        .unwrap();
    assert_eq!(plain[0]["partner_id"], json!(42));
    let missing = registry.read("res.partner", &[999], &[], true).unwrap_err();
    assert_eq!(missing.name, "odoo.exceptions.MissingError");
    let field = registry
        .read("res.partner", &[42], &["nope".into()], true)
        .unwrap_err();
    assert_eq!(field.message, "Invalid field 'nope' on model 'res.partner'");
}

#[test]
fn many2many_commands_link_unlink_replace_and_clear() {
    let mut registry = registry();
    let write = |registry: &mut Registry, commands: Value| {
        registry
            .write(
                "res.partner",
                &[7],
                &object(json!({"category_id": commands})),
            )
            .unwrap();
        registry.related("res.partner", 7, "category_id").unwrap()
    };
    assert_eq!(write(&mut registry, json!([[4, 3]])), vec![3, 5]);
    assert_eq!(
        write(&mut registry, json!([[4, 3]])),
        vec![3, 5],
        "link is idempotent"
    );
    assert_eq!(write(&mut registry, json!([[3, 5]])), vec![3]);
    assert_eq!(
        write(&mut registry, json!([[3, 3], [4, 5]])),
        vec![5],
        "tier swap"
    );
    assert_eq!(write(&mut registry, json!([[6, 0, [3, 5]]])), vec![3, 5]);
    assert_eq!(write(&mut registry, json!([[5]])), Vec::<i64>::new());
    assert_eq!(
        write(&mut registry, json!([3])),
        vec![3],
        "an id list replaces"
    );
    assert_eq!(
        write(&mut registry, json!([[0, 0, {"name": "Gold"}]])),
        vec![3, 6]
    );
    assert_eq!(
        registry.record("res.partner.category", 6).unwrap()["name"],
        json!("Gold")
    );
}

#[test]
fn a_failing_write_changes_nothing() {
    let mut registry = registry();
    let before = registry.record("res.partner", 7).unwrap();
    let error = registry
        .write(
            "res.partner",
            &[7],
            &object(json!({"email": "new@mm.cn", "category_id": [[4, 3], [4, 999]]})),
        )
        .unwrap_err();
    assert_eq!(error.name, "odoo.exceptions.ValidationError");
    assert_eq!(registry.record("res.partner", 7).unwrap(), before);

    let created = registry
        .create(
            "res.partner.category",
            &[object(json!({"name": "A"})), object(json!({"color": 2}))],
        )
        .unwrap_err();
    assert!(created.message.contains("mandatory field is not set"));
    assert_eq!(
        registry.model("res.partner.category").unwrap().ids(),
        vec![3, 5]
    );

    let unknown = registry
        .write("res.partner", &[7], &object(json!({"nope": 1})))
        .unwrap_err();
    assert_eq!(
        unknown.message,
        "Invalid field 'nope' on model 'res.partner'"
    );
    let missing = registry
        .write("res.partner", &[999], &object(json!({"email": "x"})))
        .unwrap_err();
    assert_eq!(missing.name, "odoo.exceptions.MissingError");
    let selection = registry
        .write("sale.order", &[1], &object(json!({"state": "shipped"})))
        .unwrap_err();
    assert_eq!(
        selection.message,
        "Wrong value for sale.order.state: 'shipped'"
    );
}

#[test]
fn writes_bump_write_date_and_drop_magic_fields() {
    let mut registry = registry();
    registry
        .write(
            "res.partner",
            &[42],
            &object(json!({"phone": "13800138000", "write_date": "2000-01-01 00:00:00", "id": 9})),
        )
        .unwrap();
    let record = registry.record("res.partner", 42).unwrap();
    assert_eq!(record["id"], json!(42));
    assert_eq!(record["phone"], json!("13800138000"));
    let written = record["write_date"].as_str().unwrap();
    assert!(written > "2024-05-03 02:11:12", "{written}");
    assert_eq!(record["write_uid"], json!([2, "api@example.com"]));
}

#[test]
fn create_fills_odoo_defaults_and_returns_new_ids() {
    let mut registry = registry();
    let ids = registry
        .create(
            "res.partner",
            &[object(
                json!({"name": "王五", "parent_id": 7, "category_id": [[6, 0, [3]]]}),
            )],
        )
        .unwrap();
    assert_eq!(ids, vec![44]);
    let record = registry.record("res.partner", 44).unwrap();
    assert_eq!(record["active"], json!(true));
    assert_eq!(record["type"], json!("contact"));
    assert_eq!(
        record["commercial_partner_id"],
        json!([7, "北京某某科技有限公司"])
    );
    assert_eq!(record["category_id"], json!([3]));
    let unnamed = registry
        .create("res.partner", &[object(json!({"email": "x@y.z"}))])
        .unwrap_err();
    assert_eq!(unnamed.message, "Contacts require a name");
}

#[test]
fn fields_get_reports_types_and_relations() {
    let registry = registry();
    let fields = registry
        .fields_get(
            "res.partner",
            &["category_id".into(), "parent_id".into(), "email".into()],
            &["type".into(), "relation".into()],
        )
        .unwrap();
    assert_eq!(
        fields,
        json!({
            "category_id": {"type": "many2many", "relation": "res.partner.category"},
            "email": {"type": "char"},
            "parent_id": {"type": "many2one", "relation": "res.partner"},
        })
    );
    let orders = registry.fields_get("sale.order", &[], &[]).unwrap();
    assert_eq!(orders["partner_id"]["relation"], json!("res.partner"));
    assert_eq!(orders["partner_id"]["required"], json!(true));
}

#[test]
fn loading_types_custom_fields_and_refuses_odd_ones() {
    let mut registry = registry();
    registry
        .load(
            "res.partner",
            object(json!({"id": 50, "name": "X", "x_customer_tier": "vip", "active": true})),
        )
        .unwrap();
    let fields = registry
        .fields_get("res.partner", &["x_customer_tier".into()], &["type".into()])
        .unwrap();
    assert_eq!(fields["x_customer_tier"]["type"], json!("char"));
    let odd = registry
        .load("res.partner", object(json!({"id": 51, "x_blob": {"a": 1}})))
        .unwrap_err();
    assert!(odd.contains("x_blob"), "{odd}");
    registry
        .load(
            "res.partner",
            object(json!({"id": 52, "name": "Y", "parent_id": [77, "?"]})),
        )
        .unwrap();
    let dangling = registry.dangling_references();
    assert_eq!(dangling.len(), 1);
    assert_eq!(dangling[0].1, 52);
}

#[test]
fn like_patterns_follow_sql() {
    assert!(like("zhang@mm.cn", "%@mm.cn", false));
    assert!(like("zhang", "zh_ng", false));
    assert!(!like("zhang", "zh_g", false));
    assert!(like("ZHANG", "zhang", true));
    assert!(like("100%", "100\\%", false));
    assert!(!like("1000", "100\\%", false));
}

#[test]
fn python_repr_quotes_values_as_odoo_messages_do() {
    assert_eq!(
        py_repr(&json!(["a'b", true, null, 1, {"k": false}])),
        "['a\\'b', True, None, 1, {'k': False}]"
    );
}

#[test]
fn a_limited_page_is_the_same_slice_as_the_full_sort() {
    let mut registry = Registry::new(2, "api", "en_US", "UTC");
    for id in 1..=200 {
        let day = (id * 37) % 28 + 1;
        registry
            .load(
                "res.partner",
                object(
                    json!({"id": id, "name": format!("P{}", id % 13), "active": true,
                              "write_date": format!("2024-05-{day:02} 00:00:00")}),
                ),
            )
            .unwrap();
    }
    for order in [
        "write_date asc, id asc",
        "name desc, write_date asc",
        "id desc",
    ] {
        let all = registry
            .search("res.partner", &json!([]), 0, None, Some(order), true)
            .unwrap();
        for (offset, limit) in [(0, 7), (13, 50), (190, 50), (0, 200)] {
            let page = registry
                .search(
                    "res.partner",
                    &json!([]),
                    offset,
                    Some(limit),
                    Some(order),
                    true,
                )
                .unwrap();
            let expected: Vec<i64> = all.iter().skip(offset).take(limit).copied().collect();
            assert_eq!(page, expected, "{order} {offset} {limit}");
        }
    }
}
