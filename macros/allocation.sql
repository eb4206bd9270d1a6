{#-
    Cost allocation helpers (models/intermediate/allocation). Cross-engine SQL through
    adapter.dispatch, like macros/cross_engine.sql.
-#}

{#- The match dimensions of an allocation rule, in one place: (rule column, fact column).
    `tag_key` / `tag_value` match inside the fact's `tags` JSON object (see
    allocation_dimension_matches); the others by equality. -#}
{% macro allocation_match_dimensions() -%}
    {{ return([
        ('provider', 'provider'),
        ('billing_account_id', 'billing_account_id'),
        ('sub_account_id', 'sub_account_id'),
        ('api_key_id', 'api_key_id'),
        ('model', 'model'),
        ('tag_key', 'tags'),
        ('tag_value', 'tags'),
        ('kubernetes_namespace', 'kubernetes_namespace'),
    ]) }}
{%- endmacro %}


{#- The join condition of one match dimension between `rules` and `costs` (null rule value =
    wildcard). A `tag_key` rule matches rows whose tags have that key (any value unless
    `tag_value` names one); keys are compared as the provider spells them (`user:team`). -#}
{% macro allocation_dimension_matches(rule_column, fact_column) -%}
    {%- if rule_column == 'tag_key' -%}
        (rules.tag_key is null
            or {{ json_text_value('costs.tags', 'rules.tag_key') }} is not null)
    {%- elif rule_column == 'tag_value' -%}
        (rules.tag_value is null
            or {{ json_text_value('costs.tags', 'rules.tag_key') }} = rules.tag_value)
    {%- elif fact_column -%}
        (rules.{{ rule_column }} is null or rules.{{ rule_column }} = costs.{{ fact_column }})
    {%- else -%}
        rules.{{ rule_column }} is null
    {%- endif -%}
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
