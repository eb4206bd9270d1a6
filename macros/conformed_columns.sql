{#-
    The conformed columns every provider's branch of int_cost__validated yields beyond the
    original ones (docs/contracts.md "Every provider in one shape"), in one fixed order so that
    `union all` lines up. A branch passes what it knows; the rest come out as typed nulls and
    int_cost__validated applies the defaults (providers seed, `Usage`, billed cost, false).

        {{ conformed_columns({'region_id': 'region', 'tags': 'tags_json'}) }}
-#}

{% macro conformed_column_types() -%}
    {{ return([
        ('provider_name', 'varchar'),
        ('publisher_name', 'varchar'),
        ('invoice_issuer_name', 'varchar'),
        ('service_name', 'varchar'),
        ('service_category', 'varchar'),
        ('service_subcategory', 'varchar'),
        ('region_id', 'varchar'),
        ('resource_id', 'varchar'),
        ('charge_category', 'varchar'),
        ('charge_frequency', 'varchar'),
        ('tags', 'varchar'),
        ('principal_id', 'varchar'),
        ('kubernetes_namespace', 'varchar'),
        ('is_idle', 'boolean'),
        ('pricing_quantity', money_type()),
        ('pricing_unit', 'varchar'),
        ('list_unit_price', 'decimal(38, 12)'),
        ('contracted_unit_price', 'decimal(38, 12)'),
        ('list_cost', money_type()),
        ('effective_cost', money_type()),
    ]) }}
{%- endmacro %}

{% macro conformed_columns(values={}) -%}
    {%- set known = conformed_column_types() | map(attribute=0) | list -%}
    {%- for name in values -%}
        {%- if name not in known -%}
            {{ exceptions.raise_compiler_error(
                "conformed_columns: unknown column '" ~ name ~ "'; known: " ~ known | join(', ')
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {%- for name, type in conformed_column_types() %}
        cast({{ values.get(name, 'null') }} as {{ type }}) as {{ name }}
        {%- if not loop.last %},{% endif %}
    {%- endfor %}
{%- endmacro %}

{% macro conformed_column_names(prefix='') -%}
    {%- for name, type in conformed_column_types() %}
        {{ prefix }}{{ name }}{% if not loop.last %},{% endif %}
    {%- endfor %}
{%- endmacro %}
