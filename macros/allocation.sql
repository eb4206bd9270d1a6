{#-
    Cost allocation helpers (models/intermediate/allocation). Cross-engine SQL through
    adapter.dispatch, like macros/cross_engine.sql.
-#}

{#- The match dimensions of an allocation rule, in one place: (rule column, fact column).
    A fact column of `none` is a dimension the cost fact does not carry yet (cloud tags,
    Kubernetes namespaces): a rule that names it matches no row until the fact carries it. -#}
{% macro allocation_match_dimensions() -%}
    {{ return([
        ('provider', 'provider'),
        ('billing_account_id', 'billing_account_id'),
        ('sub_account_id', 'sub_account_id'),
        ('api_key_id', 'api_key_id'),
        ('model', 'model'),
        ('tag_key', none),
        ('tag_value', none),
        ('kubernetes_namespace', none),
    ]) }}
{%- endmacro %}


{#- Integer division truncated toward zero, exact for any size of integer (nano-dollars). -#}
{% macro truncating_div(numerator, denominator) -%}
    {{ return(adapter.dispatch('truncating_div', 'tokenledger')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__truncating_div(numerator, denominator) -%}
    div(cast({{ numerator }} as numeric), cast({{ denominator }} as numeric))
{%- endmacro %}

{% macro duckdb__truncating_div(numerator, denominator) -%}
    (cast({{ numerator }} as hugeint) // cast({{ denominator }} as hugeint))
{%- endmacro %}


{#- A money amount (money_type) as a whole number of its smallest unit (1e-9), exactly. -#}
{% macro money_to_nanos(column) -%}
    {{ return(adapter.dispatch('money_to_nanos', 'tokenledger')(column)) }}
{%- endmacro %}

{% macro default__money_to_nanos(column) -%}
    cast(({{ column }}) * 1000000000 as numeric(38, 0))
{%- endmacro %}

{% macro duckdb__money_to_nanos(column) -%}
    cast(({{ column }}) * 1000000000 as hugeint)
{%- endmacro %}


{#- A whole number of nano units back to money_type, exactly (no division). -#}
{% macro nanos_to_money(column) -%}
    cast(
        cast({{ column }} as decimal(38, 0)) * cast(0.000000001 as decimal(10, 9))
        as {{ money_type() }}
    )
{%- endmacro %}


{#- Comma-separated, ordered list of the distinct text values of a group (tie reports). -#}
{% macro ordered_string_agg(column) -%}
    {{ return(adapter.dispatch('ordered_string_agg', 'tokenledger')(column)) }}
{%- endmacro %}

{% macro default__ordered_string_agg(column) -%}
    string_agg(cast({{ column }} as {{ dbt.type_string() }}), ', ' order by {{ column }})
{%- endmacro %}
