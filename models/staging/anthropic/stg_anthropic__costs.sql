{#- Anthropic cost report, one row per raw row. Amounts arrive as text in cents. -#}
{%- set raw = ('raw_anthropic', 'cost_report') -%}

with

source as (

    {{ select_from_source(source('raw_anthropic', 'cost_report')) }}

),

token_type_map as (

    select * from {{ ref('token_type_map') }}
    where provider = 'anthropic'

),

renamed as (

    select
        -- ids
        _row_key as cost_row_key,
        _billing_account_id as billing_account_id,
        {{ source_column(raw, 'workspace_id', 'varchar') }} as sub_account_id,

        -- dimensions
        {{ source_column(raw, 'description', 'varchar') }} as description,
        {{ source_column(raw, 'cost_type', 'varchar') }} as cost_type,
        {{ source_column(raw, 'model', 'varchar') }} as model,
        {{ source_column(raw, 'service_tier', 'varchar') }} as service_tier,
        {{ source_column(raw, 'token_type', 'varchar') }} as provider_token_type,
        {{ source_column(raw, 'context_window', 'varchar') }} as context_window,
        cast(amount as varchar) as amount_text,
        currency as currency_text,

        -- money: text cents -> exact decimal cents -> dollars
        {{ cents_to_dollars(safe_cast_decimal('amount')) }} as billed_cost,

        -- timestamps
        cast(starting_at as varchar) as bucket_start_text,
        {{ rfc3339_to_timestamp('starting_at') }} as bucket_start_at,
        {{ rfc3339_to_timestamp('ending_at') }} as bucket_end_at,
        cast(_bucket_date as date) as bucket_date

    from source

),

labelled as (

    select
        *,
        -- token charges carry a token_type; tool charges (web_search, code_execution)
        -- only a cost_type
        coalesce(provider_token_type, cost_type) as source_token_type
    from renamed

),

final as (

    select
        labelled.cost_row_key,
        labelled.billing_account_id,
        labelled.sub_account_id,
        labelled.description,
        labelled.cost_type,
        labelled.model,
        labelled.service_tier,
        labelled.context_window,
        labelled.source_token_type,
        -- a label the seed does not know stays visible as `unknown`, its cost kept
        coalesce(token_type_map.token_type, 'unknown') as token_type,
        token_type_map.consumed_unit,
        upper(trim(labelled.currency_text)) as billing_currency,
        labelled.currency_text,
        labelled.amount_text,
        labelled.billed_cost,
        labelled.bucket_start_text,
        labelled.bucket_start_at,
        labelled.bucket_end_at,
        labelled.bucket_date
    from labelled
    left join token_type_map
        on labelled.source_token_type = token_type_map.source_token_type

)

select * from final
