{#-
    FOCUS 1.2 export rows (AWS, Azure, GCP), one row per raw row: FOCUS names in snake_case,
    text cast to exact decimals and UTC timestamps. Nothing dropped: an unusable row is
    quarantined downstream with its reason.
-#}
{%- set raw = ('raw_focus', 'cost_and_usage') -%}
{%- set text_columns = [
    'billing_account_name', 'sub_account_id', 'sub_account_name', 'provider_name',
    'publisher_name', 'invoice_issuer_name', 'invoice_id', 'service_name', 'service_category',
    'service_subcategory', 'charge_category', 'charge_class', 'charge_frequency',
    'charge_description', 'pricing_category', 'sku_id', 'sku_price_id', 'sku_meter',
    'region_id', 'region_name', 'resource_id', 'resource_name', 'resource_type', 'tags',
    'pricing_unit', 'consumed_unit',
] -%}

with

source as (

    {{ select_from_source(source('raw_focus', 'cost_and_usage')) }}

),

-- FOCUS rows are not token charges: their label is the ChargeCategory
token_type_map as (

    select
        source_token_type as charge_category_label,
        token_type as mapped_token_type
    from {{ ref('token_type_map') }}
    where provider = 'focus'

),

renamed as (

    select
        -- ids
        _row_key as cost_row_key,
        {{ source_column(raw, 'billing_account_id', 'varchar') }} as billing_account_id,

        -- dimensions (text as exported)
        {%- for name in text_columns %}
        {{ source_column(raw, name, 'varchar') }} as {{ name }},
        {%- endfor %}

        -- quantities and unit prices
        {{ safe_cast_decimal(source_column(raw, 'pricing_quantity', 'varchar')) }}
            as pricing_quantity,
        {{ safe_cast_decimal(source_column(raw, 'consumed_quantity', 'varchar')) }}
            as consumed_quantity,
        {{ safe_cast_decimal(source_column(raw, 'list_unit_price', 'varchar'), 38, 15) }}
            as list_unit_price,
        {{ safe_cast_decimal(source_column(raw, 'contracted_unit_price', 'varchar'), 38, 15) }}
            as contracted_unit_price,

        -- money (text exactly as exported -> exact decimals)
        {{ source_column(raw, 'billing_currency', 'varchar') }} as currency_text,
        {{ source_column(raw, 'billed_cost', 'varchar') }} as amount_text,
        {{ safe_cast_decimal(source_column(raw, 'billed_cost', 'varchar')) }} as billed_cost,
        {{ safe_cast_decimal(source_column(raw, 'effective_cost', 'varchar')) }}
            as effective_cost,
        {{ safe_cast_decimal(source_column(raw, 'list_cost', 'varchar')) }} as list_cost,
        {{ safe_cast_decimal(source_column(raw, 'contracted_cost', 'varchar')) }}
            as contracted_cost,

        -- timestamps (UTC; period ends exclusive)
        {{ source_column(raw, 'charge_period_start', 'varchar') }} as charge_period_start_text,
        {{ rfc3339_to_timestamp(source_column(raw, 'charge_period_start', 'varchar')) }}
            as charge_period_start_at,
        {{ rfc3339_to_timestamp(source_column(raw, 'charge_period_end', 'varchar')) }}
            as charge_period_end_at,
        {{ rfc3339_to_timestamp(source_column(raw, 'billing_period_start', 'varchar')) }}
            as billing_period_start_at,
        {{ rfc3339_to_timestamp(source_column(raw, 'billing_period_end', 'varchar')) }}
            as billing_period_end_at,

        -- metadata
        _export_partition as export_partition,
        _source_file as source_file,
        _source_row_number as source_row_number

    from source

),

final as (

    select
        cost_row_key,
        billing_account_id,
        billing_account_name,
        sub_account_id,
        sub_account_name,
        provider_name,
        publisher_name,
        invoice_issuer_name,
        invoice_id,
        service_name,
        service_category,
        service_subcategory,
        charge_category,
        charge_category as source_token_type,
        coalesce(token_type_map.mapped_token_type, 'unknown') as token_type,
        charge_class,
        charge_frequency,
        charge_description,
        pricing_category,
        sku_id,
        sku_price_id,
        sku_meter,
        region_id,
        region_name,
        resource_id,
        resource_name,
        resource_type,
        tags,
        -- GKE cost allocation labels a namespace's share `k8s-namespace`
        {{ json_text_value('tags', "'k8s-namespace'") }} as kubernetes_namespace,
        pricing_quantity,
        pricing_unit,
        consumed_quantity,
        consumed_unit,
        list_unit_price,
        contracted_unit_price,
        upper(trim(currency_text)) as billing_currency,
        currency_text,
        amount_text,
        billed_cost,
        effective_cost,
        list_cost,
        contracted_cost,
        charge_period_start_text,
        charge_period_start_at,
        charge_period_end_at,
        billing_period_start_at,
        billing_period_end_at,
        export_partition,
        source_file,
        source_row_number
    from renamed
    left join token_type_map
        on renamed.charge_category = token_type_map.charge_category_label

)

select * from final
