{#-
    Vertex AI charges, one row per exported line (charge_category `Usage`, billed cost = the
    line's `cost`, before credits) plus one row per credit of a line (charge_category
    `Credit`, billed cost = the negative credit amount). Σ billed_cost = cost + credits, the
    net that Google invoices, with every credit still visible as its own row (FOCUS).
    Model and token kind come from the SKU description: the longest token-kind phrase of
    seeds/token_type_map (provider gcp_vertex_ai) that ends the description, the model is what
    precedes it ("Gemini 2.5 Flash GA Text Input - Predictions" → gemini-2.5-flash, input).
-#}
{%- set raw = ('raw_gcp_vertex_ai', 'billing_export') -%}
{%- set raw_credits = ('raw_gcp_vertex_ai', 'billing_export_credits') -%}

with

source as (

    {{ select_from_source(source('raw_gcp_vertex_ai', 'billing_export')) }}

),

credits_source as (

    {{ select_from_source(source('raw_gcp_vertex_ai', 'billing_export_credits')) }}

),

token_type_map as (

    select * from {{ ref('token_type_map') }}
    where provider = 'gcp_vertex_ai'

),

sku_qualifiers as (

    select * from {{ ref('gcp_vertex_ai_sku_qualifiers') }}

),

renamed as (

    select
        -- ids
        _row_key as cost_row_key,
        _billing_account_id as billing_account_id,
        {{ source_column(raw, 'project__id', 'varchar') }} as sub_account_id,
        {{ source_column(raw, 'project__name', 'varchar') }} as sub_account_name,
        {{ source_column(raw, 'sku__id', 'varchar') }} as sku_id,

        -- dimensions
        {{ source_column(raw, 'service__description', 'varchar') }} as service_name,
        {{ source_column(raw, 'sku__description', 'varchar') }} as sku_description,
        {{ source_column(raw, 'location__region', 'varchar') }} as region_id,
        {{ source_column(raw, 'labels', 'varchar') }} as labels_json,
        {{ source_column(raw, 'cost_type', 'varchar') }} as cost_type,
        {{ source_column(raw, 'invoice__month', 'varchar') }} as invoice_month,
        {{ source_column(raw, 'usage__unit', 'varchar') }} as usage_unit,
        {{ source_column(raw, '_malformed_line', 'varchar') }} as malformed_line,
        cast({{ source_column(raw, 'cost', 'varchar') }} as varchar) as amount_text,
        {{ source_column(raw, 'currency', 'varchar') }} as currency_text,

        -- quantities
        {{ safe_cast_decimal(source_column(raw, 'usage__amount', 'varchar')) }} as usage_amount,

        -- money (USD, before credits)
        {{ safe_cast_decimal(source_column(raw, 'cost', 'varchar')) }} as cost,
        {{ safe_cast_decimal(source_column(raw, 'cost_at_list', 'varchar')) }} as cost_at_list,

        -- timestamps: BigQuery's JSON export writes `2025-06-01 10:00:00 UTC`
        cast({{ source_column(raw, 'usage_start_time', 'varchar') }} as varchar)
            as bucket_start_text,
        {{ rfc3339_to_timestamp(
            "replace(" ~ source_column(raw, 'usage_start_time', 'varchar')
            ~ ", ' UTC', '+00:00')") }} as bucket_start_at,
        cast(_bucket_date as date) as bucket_date

    from source

),

-- the longest token-kind phrase of the seed that ends the SKU description
phrase_matches as (

    select
        renamed.cost_row_key,
        token_type_map.source_token_type,
        token_type_map.token_type,
        token_type_map.consumed_unit,
        row_number() over (
            partition by renamed.cost_row_key
            order by length(token_type_map.source_token_type) desc
        ) as match_rank
    from renamed
    inner join token_type_map
        on right(renamed.sku_description, length(token_type_map.source_token_type) + 1)
        = ' ' || token_type_map.source_token_type

),

parsed as (

    select
        renamed.*,
        phrase_matches.source_token_type,
        coalesce(phrase_matches.token_type, 'unknown') as token_type,
        phrase_matches.consumed_unit,
        trim(left(
            renamed.sku_description,
            length(renamed.sku_description) - length(phrase_matches.source_token_type) - 1
        )) as model_text
    from renamed
    left join phrase_matches
        on renamed.cost_row_key = phrase_matches.cost_row_key
        and phrase_matches.match_rank = 1

),

-- a release qualifier ("GA", "Preview") after the model name is not part of the model
qualified as (

    select
        parsed.*,
        sku_qualifiers.qualifier
    from parsed
    left join sku_qualifiers
        on right(parsed.model_text, length(sku_qualifiers.qualifier) + 1)
        = ' ' || sku_qualifiers.qualifier

),

usage_charges as (

    select
        cost_row_key,
        'Usage' as charge_category,
        billing_account_id,
        sub_account_id,
        sub_account_name,
        sku_id,
        service_name,
        sku_description,
        lower(replace(
            case
                when qualifier is not null
                    then left(model_text, length(model_text) - length(qualifier) - 1)
                else model_text
            end,
            ' ', '-'
        )) as model,
        source_token_type,
        token_type,
        consumed_unit,
        region_id,
        {{ key_value_array_to_json_object('labels_json') }} as tags,
        cost_type,
        invoice_month,
        malformed_line,
        sku_description as charge_description,
        upper(trim(currency_text)) as billing_currency,
        currency_text,
        amount_text,
        case when usage_unit = 'count' then usage_amount end as consumed_quantity,
        cost as billed_cost,
        coalesce(cost_at_list, cost) as list_cost,
        bucket_start_text,
        bucket_start_at,
        bucket_date
    from qualified

),

credits as (

    select
        _row_key as credit_row_key,
        export_row_key,
        {{ source_column(raw_credits, 'name', 'varchar') }} as credit_name,
        {{ source_column(raw_credits, 'full_name', 'varchar') }} as credit_full_name,
        {{ source_column(raw_credits, 'type', 'varchar') }} as credit_type,
        cast({{ source_column(raw_credits, 'amount', 'varchar') }} as varchar) as amount_text,
        {{ safe_cast_decimal(source_column(raw_credits, 'amount', 'varchar')) }} as amount
    from credits_source

),

-- a credit belongs to its line: it inherits the line's project, SKU, model and time, and is
-- only costed when the line is (a credit of a quarantined line is quarantined with it)
credit_charges as (

    select
        credits.credit_row_key as cost_row_key,
        'Credit' as charge_category,
        usage_charges.billing_account_id,
        usage_charges.sub_account_id,
        usage_charges.sub_account_name,
        usage_charges.sku_id,
        usage_charges.service_name,
        usage_charges.sku_description,
        usage_charges.model,
        usage_charges.source_token_type,
        usage_charges.token_type,
        cast(null as varchar) as consumed_unit,
        usage_charges.region_id,
        usage_charges.tags,
        credits.credit_type as cost_type,
        usage_charges.invoice_month,
        usage_charges.malformed_line,
        coalesce(credits.credit_full_name, credits.credit_name) as charge_description,
        usage_charges.billing_currency,
        usage_charges.currency_text,
        case when usage_charges.billed_cost is not null then credits.amount_text end
            as amount_text,
        cast(null as {{ money_type() }}) as consumed_quantity,
        case when usage_charges.billed_cost is not null then credits.amount end as billed_cost,
        cast(0 as {{ money_type() }}) as list_cost,
        usage_charges.bucket_start_text,
        usage_charges.bucket_start_at,
        usage_charges.bucket_date
    from credits
    inner join usage_charges
        on credits.export_row_key = usage_charges.cost_row_key

),

final as (

    select * from usage_charges
    union all
    select * from credit_charges

)

select * from final
